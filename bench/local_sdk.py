"""7a-7d (issue 15): the SDK verifying credentials in its own process, kept exact by the revocation
stream of the AuthService under test. Validations per second in this one process (a repeated
JWT, a pool of 10,000 JWTs at first sight, a kept API key), and how long a logout takes to reach
it (from the Logout RPC's start until the SDK refuses the token)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import grpc

from authsvc.client import AuthClient, AuthClientError
from authsvc.v1 import auth_pb2, auth_pb2_grpc
from bench.figures import at_least_rate
from bench.model import Check, Figure
from bench.rig import Rig
from bench.seed import Seeded

REQUIRED: tuple[str, ...] = ()
PROPAGATIONS = 50


async def _rate(rounds: int, seconds: float, once: Callable[[], Awaitable[object]]) -> float:
    """The median over `rounds` of validations per second, each round `seconds` long."""
    rates = []
    for _ in range(rounds):
        calls, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            for _ in range(1000):
                await once()
            calls += 1000
            # A local answer never waits, so this loop would never let the stream's task run;
            # a service does between requests (each is I/O), and so does this loop.
            await asyncio.sleep(0)
        rates.append(calls / elapsed)
    return statistics.median(rates)


async def verifier_key(port: int, seeded: Seeded) -> str:
    """An API key holding tokens:verify, made by a seeded admin."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)  # type: ignore[no-untyped-call]
        login = await stub.Login(auth_pb2.LoginRequest(email=seeded.emails[0], password=seeded.password))
        request = auth_pb2.CreateApiKeyRequest(
            name="bench verifier", permissions=["tokens:verify"], environment=auth_pb2.ENVIRONMENT_LIVE
        )
        metadata = (("authorization", f"Bearer {login.access_token}"),)
        return str((await stub.CreateApiKey(request, metadata=metadata)).secret)


async def run_local(rig: Rig) -> list[Figure]:
    target = f"127.0.0.1:{rig.authsvc.port}"
    rounds, seconds = rig.options.rounds, float(rig.options.seconds)
    verifier = await verifier_key(rig.authsvc.port, rig.seeded)
    async with grpc.aio.insecure_channel(target) as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)  # type: ignore[no-untyped-call]
        async with AuthClient(target, local_verification_key=verifier) as client:
            token, key = rig.seeded.access_tokens[0], rig.seeded.api_keys[0]
            await client.validate(token, REQUIRED)
            await client.validate(key, REQUIRED)
            repeated = Figure("7a", "SDK local: one JWT again and again", "in-proc")
            repeated.rate = await _rate(rounds, seconds, lambda: client.validate(token, REQUIRED))
            repeated.checks.append(at_least_rate(repeated, 200_000))

            pool = rig.seeded.access_tokens[1:10_001]
            first = Figure("7b", f"SDK local: {len(pool):,} JWTs at first sight", "in-proc")
            started = time.perf_counter()
            for number, each in enumerate(pool):
                await client.validate(each, REQUIRED)
                if number % 100 == 0:
                    await asyncio.sleep(0)
            first.rate = len(pool) / (time.perf_counter() - started)
            first.checks.append(at_least_rate(first, 5_000))

            kept = Figure("7c", "SDK local: a kept API key", "in-proc")
            kept.rate = await _rate(rounds, seconds, lambda: client.validate(key, REQUIRED))
            kept.checks.append(at_least_rate(kept, 200_000))

            propagation = await _propagation(stub, client, rig)
    return [repeated, first, kept, propagation]


async def _propagation(stub: auth_pb2_grpc.AuthServiceStub, client: AuthClient, rig: Rig) -> Figure:
    figure = Figure("7d", f"logout -> SDK refuses, over {PROPAGATIONS}", "in-proc")
    delays = []
    for _ in range(PROPAGATIONS):
        login = await stub.Login(
            auth_pb2.LoginRequest(email=rig.seeded.emails[0], password=rig.seeded.password)
        )
        await client.validate(login.access_token, REQUIRED)
        started = time.perf_counter()
        await stub.Logout(
            auth_pb2.LogoutRequest(), metadata=(("authorization", f"Bearer {login.access_token}"),)
        )
        while True:
            try:
                await client.validate(login.access_token, REQUIRED)
            except AuthClientError:
                break
            if time.perf_counter() - started > 5:
                figure.notes.append("a logout was not seen within 5 s")
                break
            await asyncio.sleep(0.001)
        delays.append(time.perf_counter() - started)
    figure.p50_ms = statistics.median(delays) * 1000
    figure.p99_ms = statistics.quantiles(delays, n=100)[98] * 1000
    figure.checks.append(Check.at_most("p99 <= 300 ms", figure.p99_ms, 300.0))
    return figure
