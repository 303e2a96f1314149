"""One benchmark run: database, servers, seed, scenarios in order, then the report's context."""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import secrets
import statistics
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from authsvc.config import Settings
from bench import database, grpc_scenarios, local_sdk, login, report, rest, servers, workers
from bench.model import Figure
from bench.options import Options
from bench.profile import profile_validate
from bench.rig import Rig
from bench.seed import seed

NO_LIMIT = "100000000/60"  # rate limits wide open: they would distort every figure


# One plan for the bench's workspace, never spent: 2c and 2d measure a key's own limit.
PLANS = (
    'default = "bench"\n[plans.bench]\n'
    "requests_per_minute = 1000000000000\nrequests_per_day = 1000000000000\n"
)


def authsvc_env(dsn: str, plans: Path) -> dict[str, str]:
    """A configured deployment on `dsn` with a fresh secret and `plans` (PLANS written there);
    AUTHSVC_BCRYPT_COST is kept if set."""
    plans.write_text(PLANS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSVC_") or k == "AUTHSVC_BCRYPT_COST"}
    env.update(
        AUTHSVC_DATABASE_URL=dsn,
        AUTHSVC_JWT_SECRET=secrets.token_hex(32),
        AUTHSVC_GRPC_ADDRESS="127.0.0.1:0",
        AUTHSVC_LOGIN_RATE_LIMIT=NO_LIMIT,
        AUTHSVC_REFRESH_RATE_LIMIT=NO_LIMIT,
        AUTHSVC_LOGIN_ACCOUNT_FAILURE_LIMIT=NO_LIMIT,
        AUTHSVC_PLANS_FILE=str(plans),
    )
    return env


async def _facade_help() -> str | None:
    """None when `http-facade --help` works, else why not."""
    try:
        process = await asyncio.create_subprocess_exec(
            *servers.console_script("http-facade"), "--help",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    except OSError as error:
        return f"http-facade cannot run: {error}"
    out, _ = await process.communicate()
    return None if process.returncode == 0 else f"http-facade --help: {out.decode()[-200:].strip()}"


async def start_facade(
    stack: contextlib.AsyncExitStack,
    authsvc: servers.Server,
    logs: Path,
    name: str = "facade",
    **settings: str,
) -> tuple[servers.Server | None, str]:
    if problem := await _facade_help():
        return None, problem
    env = {k: v for k, v in os.environ.items() if not k.startswith("HTTP_FACADE_")}
    env.update(
        HTTP_FACADE_HOST="127.0.0.1",
        HTTP_FACADE_PORT="0",
        HTTP_FACADE_AUTHSVC_TARGET=f"127.0.0.1:{authsvc.port}",
        **settings,
    )
    argv = [*servers.console_script("http-facade"), "serve"]
    try:
        return await stack.enter_async_context(servers.running(name, argv, env, logs, 60)), ""
    except servers.ServerFailed as error:
        return None, str(error)


async def start_floors(
    stack: contextlib.AsyncExitStack, authsvc: servers.Server, facade: servers.Server | None, logs: Path
) -> tuple[servers.Server, servers.Server, servers.Server]:
    """The floors (gRPC, gRPC with generic handlers only, HTTP), each on the event loop of the
    server it stands beside."""
    loops = {"grpc": authsvc.event_loop, "grpc-generic": authsvc.event_loop}
    loops["http"] = facade.event_loop if facade else authsvc.event_loop
    started = []
    for kind, loop in loops.items():
        argv = [sys.executable, "-m", "bench.floors", kind, "--loop", loop]
        started.append(
            await stack.enter_async_context(servers.running(f"floor-{kind}", argv, os.environ, logs))
        )
    grpc_floor, generic_floor, http_floor = started
    return grpc_floor, generic_floor, http_floor


def floor_rates(figures: list[Figure]) -> dict[str, float]:
    """The median floor rate by floor and tool, over the runs beside each figure."""
    by_floor: dict[str, list[float]] = {}
    for f in figures:
        if f.floor_rate is not None and f.versus:
            by_floor.setdefault(f.versus.rsplit(" ", 1)[0], []).append(f.floor_rate)
    return {name: statistics.median(rates) for name, rates in by_floor.items()}


async def scenarios(rig: Rig, progress: Callable[[Figure], None]) -> list[Figure]:
    done: list[Figure] = []

    async def add(work: Awaitable[list[Figure]]) -> None:
        for figure in await work:
            progress(figure)
            done.append(figure)

    async def grpc(spec: grpc_scenarios.GrpcScenario) -> list[Figure]:
        return [await grpc_scenarios.run_scenario(rig, spec)]

    wants = rig.options.wants
    specs = {spec.key: spec for spec in grpc_scenarios.scenarios(rig)}
    # 1d before 1b: 1d is the first sight of the token pool, 1b the same pool seen before.
    for key in ("0", "1a", "1d", "1b", "1c", "2a", "2b", "2c", "2d", "3a", "3b", "3c"):
        if wants(key):
            await add(grpc(specs[key]))
    if wants("6a", "6b", "6c", "6d"):
        await add(rest.run_rest(rig, floor_rates(done).get("gRPC floor (h2load)")))
    if wants("4"):  # after REST and ValidateToken: refresh only spends refresh tokens
        await add(grpc(specs["4"]))
    if wants("5a", "5b", "5c"):
        await add(login.run_login(rig))
    if wants("7a", "7b", "7c", "7d"):
        await add(local_sdk.run_local(rig))
    if wants("8a", "8b"):
        await add(workers.run_workers(rig))
    return sorted(done, key=lambda f: f.key)


async def run(options: Options) -> tuple[list[Figure], dict[str, Any]]:
    started = datetime.now(UTC)
    options.logs.mkdir(parents=True, exist_ok=True)
    async with contextlib.AsyncExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="authsvc-bench-")))
        db = await stack.enter_async_context(database.bench_database())
        env = authsvc_env(db.dsn, scratch / "plans.toml")
        settings = Settings.from_env(env)
        print(f"PostgreSQL {db.version}: {db.source}; starting AuthService and the facade", flush=True)
        authsvc_argv = [*servers.console_script("authsvc"), "serve"]
        authsvc = await stack.enter_async_context(servers.running("authsvc", authsvc_argv, env, options.logs))
        facade, facade_missing = await start_facade(stack, authsvc, options.logs)
        loops = {"authsvc": authsvc.event_loop, "facade": facade.event_loop if facade else "-"}
        grpc_floor, generic_floor, http_floor = await start_floors(stack, authsvc, facade, options.logs)
        print(f"seeding {options.sessions:,} sessions and {options.api_keys:,} API keys", flush=True)
        seeded = await seed(settings, options.users, options.sessions, options.api_keys)
        local_facade = None
        if facade is not None and options.wants("6c", "6d"):  # /me answered from the stream
            verifier = await local_sdk.verifier_key(authsvc.port, seeded)
            local_facade, _ = await start_facade(
                stack, authsvc, options.logs, "facade-local", HTTP_FACADE_LOCAL_VERIFICATION_KEY=verifier
            )
        rig = Rig(options, scratch, db.dsn, settings.bcrypt_cost, authsvc, grpc_floor, generic_floor,
                  http_floor, facade, facade_missing, seeded, local_facade, env)  # fmt: skip
        print(report.HEADER, flush=True)
        figures = await scenarios(rig, lambda f: print(report.row(f), flush=True))
        profile = await profile_validate(rig) if options.profile else None
    context: dict[str, Any] = {
        "started_at": started.isoformat(timespec="seconds"),
        "duration_seconds": round((datetime.now(UTC) - started).total_seconds(), 1),
        "cores": os.cpu_count(),
        "machine": f"{platform.machine()} {platform.release()}, Python {platform.python_version()}",
        "database": {"source": db.source, "version": db.version},
        "event_loops": loops,
        "bcrypt_cost": settings.bcrypt_cost,
        "rounds": options.rounds,
        "seconds": options.seconds,
        "grpc_load": f"{options.grpc.connections} connections x {options.grpc.streams} streams",
        "http_load": f"{options.http.connections} connections",
        "floors": floor_rates(figures),
        "facade": "running" if facade else f"skipped: {facade_missing}",
        "profile": profile,
    }
    return figures, context
