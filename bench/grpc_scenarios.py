"""Scenarios 1-4: ValidateToken (tokens, API keys, invalid input) and Refresh, each beside the gRPC floor."""

from __future__ import annotations

from dataclasses import dataclass, field

from google.protobuf.message import Message

from bench import figures, paired, payloads, tools, verify
from bench.measure import Measurement
from bench.model import Figure
from bench.rig import Rig
from bench.servers import Server

RSS_LIMIT_MB = 150.0
# Distinct unknown keys, more than any negative cache holds: each is one an attacker made up.
UNKNOWN_KEYS = 20_000


@dataclass(frozen=True)
class GrpcScenario:
    key: str
    title: str
    method: str
    messages: list[Message]
    tool: str = "h2load"  # or "loadgen", for a pool of bodies
    expect: str = "OK"
    min_ratio: float | None = None
    min_rate: float | None = None
    db_free: bool = False  # the target: no database round trip on this path
    once: bool = False  # each body at most once (refresh tokens are single use)
    verify_with: list[Message] = field(default_factory=list)  # default: a few of `messages`
    reference: bool = False  # the empty generic-handlers floor runs instead of AuthService
    # Each body once, unmeasured, before the rounds: the figure is then the steady state of a pool
    # that AuthService has seen before (its first sight is a figure of its own, 1d).
    prime: bool = False
    # Every call a first sight (with `once`): no warm-up on AuthService's side, which would spend
    # bodies unmeasured and charge their CPU to the measured calls.
    cold: bool = False


def scenarios(rig: Rig) -> list[GrpcScenario]:
    s, v = rig.seeded, payloads.validate
    jwt, key = s.access_tokens[0], s.api_keys[0]
    pool = len(s.access_tokens)
    return [
        GrpcScenario("0", "Empty gRPC server, generic handlers only", "ValidateToken", [v(jwt)],
                     expect="-", reference=True),
        GrpcScenario("1a", "ValidateToken, access token, one repeated", "ValidateToken", [v(jwt)],
                     min_ratio=0.85, db_free=True),
        GrpcScenario("1b", f"ValidateToken, access tokens, pool of {pool:,}", "ValidateToken",
                     [v(t) for t in s.access_tokens], tool="loadgen", min_ratio=0.75, db_free=True,
                     prime=True),
        GrpcScenario("1d", f"ValidateToken, pool of {pool:,}, first sight", "ValidateToken",
                     [v(t) for t in s.access_tokens], tool="loadgen", db_free=True, once=True, cold=True),
        GrpcScenario("1c", "ValidateToken, one token, loadgen (tool check)", "ValidateToken", [v(jwt)],
                     tool="loadgen"),
        GrpcScenario("2a", "ValidateToken, API key, one repeated", "ValidateToken", [v(key)],
                     min_ratio=0.80, db_free=True),
        GrpcScenario("2b", f"ValidateToken, API keys, pool of {len(s.api_keys):,}", "ValidateToken",
                     [v(k) for k in s.api_keys], tool="loadgen", min_ratio=0.80, db_free=True),
        GrpcScenario("2c", "ValidateToken cost=1, key under its limit", "ValidateToken",
                     [v(s.metered_key, cost=1)], min_ratio=0.80, db_free=True),
        GrpcScenario("2d", "ValidateToken cost=1, key over its limit", "ValidateToken",
                     [v(s.spent_key, cost=1)], expect="RESOURCE_EXHAUSTED", min_ratio=0.85, db_free=True),
        GrpcScenario("3a", "ValidateToken, invalid: garbage", "ValidateToken", [v(payloads.garbage())],
                     expect="UNAUTHENTICATED", min_ratio=0.85),
        GrpcScenario("3b", "ValidateToken, invalid: bad signature", "ValidateToken",
                     [v(payloads.bad_signature(jwt))], expect="UNAUTHENTICATED", min_ratio=0.85),
        GrpcScenario("3c", f"ValidateToken, unknown keys, pool of {UNKNOWN_KEYS:,}", "ValidateToken",
                     [v(payloads.unknown_api_key()) for _ in range(UNKNOWN_KEYS)], tool="loadgen",
                     expect="UNAUTHENTICATED", min_ratio=0.85, db_free=True),
        GrpcScenario("4", "Refresh, distinct refresh tokens", "Refresh",
                     [payloads.refresh(t) for t in s.refresh_tokens[1:]], tool="loadgen", min_rate=500,
                     once=True, verify_with=[payloads.refresh(s.refresh_tokens[0])]),
    ]  # fmt: skip


def _driver(rig: Rig, spec: GrpcScenario, server: Server, scenario_side: bool) -> paired.Driver:
    o, path = rig.options, payloads.SERVICE + spec.method
    # Single-use bodies: a disjoint share for each round. Otherwise one file, read round robin.
    shares = [spec.messages[n :: o.rounds] for n in range(o.rounds)] if spec.once else [spec.messages]
    bodies = [payloads.write(rig.scratch / f"{spec.key}-{n}.bin", share) for n, share in enumerate(shares)]

    warmup = 0.0 if spec.cold and scenario_side else o.warmup

    async def run(number: int) -> Measurement:
        body = bodies[number % len(bodies)]
        if spec.tool == "h2load":
            url = f"http://127.0.0.1:{server.port}{path}"
            return await tools.h2load(url, body, o.seconds, warmup, o.grpc, rig.scratch)
        return await tools.loadgen(
            server.port, path, body, o.seconds, warmup, o.grpc, rig.scratch,
            expect_ok=spec.expect == "OK" or not scenario_side,
            once=spec.once and scenario_side,
            offset=0 if spec.once else number * len(spec.messages) // o.rounds,
        )  # fmt: skip

    return run


async def run_scenario(rig: Rig, spec: GrpcScenario) -> Figure:
    server = rig.grpc_generic_floor if spec.reference else rig.authsvc
    sample = spec.verify_with or [spec.messages[0], spec.messages[len(spec.messages) // 2], spec.messages[-1]]
    verified = "-" if spec.reference else await verify.grpc_status(server.port, spec.method, sample)
    primed = None
    if spec.prime:
        bodies = payloads.write(rig.scratch / f"{spec.key}-prime.bin", spec.messages)
        path = payloads.SERVICE + spec.method
        primed = await tools.loadgen(
            server.port, path, bodies, 600, 0.0, rig.options.grpc, rig.scratch, once=True
        )
    outcome = await paired.measure(
        rig.dsn,
        {"floor, generic handlers": server.pid} if spec.reference else rig.watched,
        _driver(rig, spec, server, True),
        rig.options.rounds,
        _driver(rig, spec, rig.grpc_floor, False),
        rig.grpc_floor.pid,
    )
    figure = figures.from_outcome(spec.key, spec.title, outcome, verified, f"gRPC floor ({spec.tool})")
    if spec.min_ratio is not None:
        figure.checks.append(figures.at_least_ratio(figure, spec.min_ratio))
    if spec.min_rate is not None:
        figure.checks.append(figures.at_least_rate(figure, spec.min_rate))
    if spec.db_free:
        figure.checks.append(figures.no_db_round_trip(figure))
    if not spec.reference:
        figure.checks.append(figures.rss_within(figure, RSS_LIMIT_MB))
        figures.expected_outcomes(figure, spec.expect)
    if primed is not None and (primed.unexpected or primed.completed < len(spec.messages)):
        figure.notes.append(
            f"priming: {primed.completed:,} calls, {primed.unexpected:,} not OK: the pool was not all seen"
        )
    if outcome.scenario.completed < 1_000:
        figure.notes.append(f"only {outcome.scenario.completed:,} calls measured: read this figure loosely")
    return figure
