"""Scenario 8: `--workers 2` against one worker, on the same database and seeded data.

8a: ValidateToken, one access token (as 1a), h2load against `authsvc serve --workers 2`, rounds
alternated with the one-worker AuthService of the other figures. 8b: REST /me, one token (as 6a),
wrk through `http-facade serve --workers 2` in front of those two workers, alternated with the
one-worker facade in front of the one-worker AuthService. The ratio is two workers over one.

No target (issue 17): on this 2-core machine the load tool needs a core of its own to saturate even
one worker, so two workers and the tool share two cores; the figure says what a second process
buys under that constraint, not what it buys on a machine with cores to spare.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from bench import figures, paired, payloads, servers, tools, verify
from bench.measure import Measurement
from bench.model import Figure
from bench.rig import Rig
from bench.servers import Server

WORKERS = 2
ME = "/api/v1/auth/me"


def children_of(pid: int) -> list[int]:
    """The direct children of `pid` (the workers of a supervisor)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _watched(*supervisors: Server) -> dict[str, int]:
    return {
        f"{server.name} worker {number}": child
        for server in supervisors
        for number, child in enumerate(children_of(server.pid), 1)
    }


def _grpc_driver(rig: Rig, server: Server, body: Path) -> paired.Driver:
    o, url = rig.options, f"http://127.0.0.1:{server.port}{payloads.SERVICE}ValidateToken"

    async def run(number: int) -> Measurement:
        return await tools.h2load(url, body, o.seconds, o.warmup, o.grpc, rig.scratch)

    return run


def _http_driver(rig: Rig, server: Server, token: str) -> paired.Driver:
    o = rig.options

    async def run(number: int) -> Measurement:
        return await tools.wrk(
            f"http://127.0.0.1:{server.port}{ME}", o.seconds, o.http, rig.scratch, token, None
        )

    return run


async def run_workers(rig: Rig) -> list[Figure]:
    token = rig.seeded.access_tokens[0]
    wanted = [key for key in ("8a", "8b") if rig.options.wants(key)]
    async with contextlib.AsyncExitStack() as stack:
        argv = [*servers.console_script("authsvc"), "serve", "--workers", str(WORKERS)]
        env = {**rig.authsvc_env, "AUTHSVC_METRICS_ADDRESS": "127.0.0.1:0"}  # beside the first one's
        started = servers.running("authsvc-workers", argv, env, rig.options.logs)
        authsvc = await stack.enter_async_context(started)
        out: list[Figure] = []
        if "8a" in wanted:
            body = payloads.write(rig.scratch / "8a.bin", [payloads.validate(token)])
            verified = await verify.grpc_status(authsvc.port, "ValidateToken", [payloads.validate(token)])
            outcome = await paired.measure(
                rig.dsn, _watched(authsvc), _grpc_driver(rig, authsvc, body), rig.options.rounds,
                _grpc_driver(rig, rig.authsvc, body), rig.authsvc.pid,
            )  # fmt: skip
            figure = figures.from_outcome("8a", f"ValidateToken, one token, {WORKERS} workers", outcome,
                                          verified, "1 worker (h2load)")  # fmt: skip
            figures.expected_outcomes(figure, "OK")
            out.append(figure)
        if "8b" in wanted:
            out.append(await _rest(rig, stack, authsvc, token))
    return out


async def _rest(rig: Rig, stack: contextlib.AsyncExitStack, authsvc: Server, token: str) -> Figure:
    title = f"REST /me, one token, {WORKERS} facade workers over {WORKERS} AuthService workers"
    if rig.facade is None:
        return Figure("8b", title, skipped=f"facade not available ({rig.facade_missing})")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HTTP_FACADE_")}
    env.update(HTTP_FACADE_HOST="127.0.0.1", HTTP_FACADE_PORT="0",
               HTTP_FACADE_AUTHSVC_TARGET=f"127.0.0.1:{authsvc.port}")  # fmt: skip
    argv = [*servers.console_script("http-facade"), "serve", "--workers", str(WORKERS)]
    started = servers.running("facade-workers", argv, env, rig.options.logs, 60)
    facade = await stack.enter_async_context(started)
    verified = await verify.http_status(f"http://127.0.0.1:{facade.port}{ME}", token)
    outcome = await paired.measure(
        rig.dsn, _watched(authsvc, facade), _http_driver(rig, facade, token), rig.options.rounds,
        _http_driver(rig, rig.facade, token), rig.facade.pid,
    )  # fmt: skip
    figure = figures.from_outcome("8b", title, outcome, verified, "1 + 1 worker (wrk)")
    figures.expected_outcomes(figure, "HTTP 200")
    return figure
