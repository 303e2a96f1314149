"""Scenario 6: REST `GET /api/v1/auth/me` through the facade, beside the empty aiohttp handler."""

from __future__ import annotations

from bench import figures, paired, tools, verify
from bench.measure import Measurement
from bench.model import Check, Figure
from bench.rig import Rig
from bench.servers import Server

PATH = "/api/v1/auth/me"
FASTAPI_USERS_RATE = 400.0  # the figure for a FastAPI + fastapi-users `/users/me`
PRESENT_PATH = {"6c": "6a", "6d": "6b"}  # the same requests, each asking AuthService


def _driver(rig: Rig, server: Server, token: str | None, pool: str | None) -> paired.Driver:
    o = rig.options
    pool_file = rig.scratch / "6-tokens.txt" if pool else None

    async def run(number: int) -> Measurement:
        return await tools.wrk(f"http://127.0.0.1:{server.port}{PATH}", o.seconds, o.http, rig.scratch,
                               token, pool_file)  # fmt: skip

    return run


async def run_rest(rig: Rig, grpc_floor_rate: float | None) -> list[Figure]:
    tokens = rig.seeded.access_tokens
    cases = [
        ("6a", "REST /api/v1/auth/me, one token", tokens[0], None, rig.facade),
        ("6b", f"REST /api/v1/auth/me, pool of {len(tokens):,} tokens", None, "pool", rig.facade),
        ("6c", "REST /me, one token, verified locally", tokens[0], None, rig.local_facade),
        ("6d", f"REST /me, pool of {len(tokens):,}, verified locally", None, "pool", rig.local_facade),
    ]
    cases = [case for case in cases if rig.options.wants(case[0])]
    if rig.facade is None:
        return [
            Figure(key, title, skipped=f"facade not available ({rig.facade_missing})")
            for key, title, *_ in cases
        ]
    (rig.scratch / "6-tokens.txt").write_text("\n".join(tokens) + "\n")
    out: list[Figure] = []
    for key, title, token, pool, server in cases:
        if server is None:
            out.append(Figure(key, title, skipped="the facade with local verification did not start"))
            continue
        verified = await verify.http_status(f"http://127.0.0.1:{server.port}{PATH}", token or tokens[-1])
        if server is rig.local_facade and pool:
            # As 1b: each token once, unmeasured, so the rounds measure a pool seen before (the
            # first sight of a token, an EdDSA verification, is 7b's figure).
            await verify.http_statuses(f"http://127.0.0.1:{server.port}{PATH}", tokens)
        outcome = await paired.measure(
            rig.dsn,
            rig.watched,
            _driver(rig, server, token, pool),
            rig.options.rounds,
            _driver(rig, rig.http_floor, token, pool),
            rig.http_floor.pid,
        )
        figure = figures.from_outcome(key, title, outcome, verified, "aiohttp floor (wrk)")
        if server is rig.local_facade:  # issue 15: >= 0.5 x the floor, >= 2 x the present path
            figure.checks = [figures.at_least_ratio(figure, 0.5, "aiohttp floor")]
            present = next((f for f in out if f.key == PRESENT_PATH[key]), None)
            if present is None or not present.rate:
                figure.notes.append(f"{PRESENT_PATH[key]} not measured in this run: no check against it")
            else:
                twice = 2 * present.rate
                figure.checks.append(
                    Check.at_least(f">= 2 x {present.key} ({twice:,.0f}/s)", figure.rate, twice)
                )
            figure.checks.append(figures.rss_within(figure, 150))
            figures.expected_outcomes(figure, "HTTP 200")
            out.append(figure)
            continue
        figure.checks = [figures.at_least_rate(figure, 10 * FASTAPI_USERS_RATE)]
        if grpc_floor_rate:
            half = 0.5 * grpc_floor_rate
            figure.checks.append(Check.at_least(f">= 0.50 x gRPC floor ({half:,.0f}/s)", figure.rate, half))
        else:
            figure.notes.append("gRPC floor not measured in this run: no check against it")
        figure.checks.append(figures.rss_within(figure, 150))
        figures.expected_outcomes(figure, "HTTP 200")
        out.append(figure)
    return out
