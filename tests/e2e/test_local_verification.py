"""Local verification in the SDK against real `authsvc serve` processes on a fresh (EdDSA)
deployment: what is revoked through replica A is refused by an SDK following replica B within a
second, with no call per request; while AuthService is away the SDK answers from what it holds for
`max_staleness_seconds`, then UNAVAILABLE; tokens under keys it does not hold are refused."""

from __future__ import annotations

import asyncio
import re
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import grpc
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import REGISTRY

from authsvc.client import AuthClient, AuthClientError
from authsvc.v1 import auth_pb2, auth_pb2_grpc
from http_facade.app import create_app
from http_facade.config import Settings
from http_facade.runner import FacadeRunner
from tests.conftest import TEST_SECRET
from tests.e2e.test_cli import _run
from tests.support.addresses import free_port
from tests.support.grpc_client import bearer
from tests.support.processes import ServeProcess, clean_env, start_serve

PASSWORD = "a long enough password"


@dataclass
class Deployment:
    env: dict[str, str]
    a: auth_pb2_grpc.AuthServiceStub
    b_target: str
    b: ServeProcess
    admin_email: str
    admin: str  # an access token of the admin
    verifier: str  # an API key holding tokens:verify

    async def restart_b(self) -> None:
        self.b = await start_serve({**self.env, "AUTHSVC_GRPC_ADDRESS": self.b_target})

    async def login(self, email: str | None = None) -> str:
        request = auth_pb2.LoginRequest(email=email or self.admin_email, password=PASSWORD)
        return (await self.a.Login(request)).access_token

    async def key(self, permissions: list[str]) -> tuple[str, str]:
        request = auth_pb2.CreateApiKeyRequest(
            name=f"k-{uuid.uuid4().hex[:6]}", permissions=permissions, environment=auth_pb2.ENVIRONMENT_TEST
        )
        created = await self.a.CreateApiKey(request, metadata=bearer(self.admin))
        return created.api_key.id, created.secret


@pytest.fixture
async def deployment(fresh_database_url: str) -> AsyncIterator[Deployment]:
    admin_email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    env = clean_env(
        AUTHSVC_DATABASE_URL=fresh_database_url,
        AUTHSVC_JWT_SECRET=TEST_SECRET.hex(),
        AUTHSVC_BCRYPT_COST="10",
        AUTHSVC_SHUTDOWN_GRACE_SECONDS="1",
        AUTHSVC_LOGIN_RATE_LIMIT="100000/60",
        AUTHSVC_BOOTSTRAP_ADMIN_EMAIL=admin_email,
        AUTHSVC_BOOTSTRAP_ADMIN_PASSWORD=PASSWORD,
    )
    b_target = f"127.0.0.1:{free_port()}"
    a = await start_serve({**env, "AUTHSVC_GRPC_ADDRESS": "127.0.0.1:0"})
    b = await start_serve({**env, "AUTHSVC_GRPC_ADDRESS": b_target})
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{a.port}")
    stub = auth_pb2_grpc.AuthServiceStub(channel)
    admin = (await stub.Login(auth_pb2.LoginRequest(email=admin_email, password=PASSWORD))).access_token
    request = auth_pb2.CreateApiKeyRequest(
        name="verifier", permissions=["tokens:verify"], environment=auth_pb2.ENVIRONMENT_TEST
    )
    verifier = (await stub.CreateApiKey(request, metadata=bearer(admin))).secret
    found = Deployment(env, stub, b_target, b, admin_email, admin, verifier)
    try:
        yield found
    finally:
        await channel.close()
        await a.stop()
        await found.b.stop()


@asynccontextmanager
async def local_facade(d: Deployment, **settings: object) -> AsyncIterator[str]:
    """The REST facade in front of replica B, answering /me and /verify locally; yields its URL."""
    configured = Settings(authsvc_target=d.b_target, port=0, local_verification_key=d.verifier)
    runner = FacadeRunner(create_app(configured.model_copy(update=settings)), shutdown_timeout=1)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def _status(http: aiohttp.ClientSession, url: str, token: str) -> int:
    async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as reply:
        await reply.read()
        return reply.status


async def _validation_calls(process: ServeProcess) -> float:
    """ValidateToken and ValidateTokens calls the replica has handled (its /metrics)."""
    async with aiohttp.ClientSession() as http, http.get(process.metrics_url) as reply:
        text = await reply.text()
    pattern = r'^grpc_server_handled_total\{[^}]*grpc_method="ValidateTokens?"[^}]*\} (\S+)$'
    return sum(float(value) for value in re.findall(pattern, text, re.MULTILINE))


async def _outcome(client: AuthClient, token: str, required: tuple[str, ...] = ()) -> str:
    try:
        await client.validate(token, required)
    except AuthClientError as error:
        return error.code.name
    return "OK"


async def _refused_after(client: AuthClient, token: str, revoke: Callable[[], Awaitable[object]]) -> float:
    """Seconds from the revoking call's start until the SDK refuses `token` (at most 1 s)."""
    assert await _outcome(client, token) == "OK"
    started = time.monotonic()
    await revoke()
    while await _outcome(client, token) == "OK":
        assert time.monotonic() - started < 1.0, "still accepted a second after its revocation"
        await asyncio.sleep(0.002)
    assert await _outcome(client, token) == "UNAUTHENTICATED"
    return time.monotonic() - started


async def test_revocations_through_a_reach_the_sdk_on_b_within_a_second(deployment: Deployment) -> None:
    d = deployment
    async with AuthClient(d.b_target, local_verification_key=d.verifier) as client:
        token = await d.login()
        assert jwt.get_unverified_header(token)["alg"] == "EdDSA"  # a new deployment's default
        _, reader = await d.key(["geofences:read"])
        assert (await client.validate(reader, ["geofences:read"])).is_api_key
        before = await _validation_calls(d.b)
        for _ in range(200):  # verified here, the key kept: no call per request
            assert (await client.validate(token, ["api_keys:read"])).is_user
            assert (await client.validate(reader, ["geofences:read"])).is_api_key
        assert await _validation_calls(d.b) == before
        assert await _outcome(client, reader, ("geofences:write",)) == "PERMISSION_DENIED"

        async def logout() -> float:
            session = await d.login()
            return await _refused_after(
                client, session, lambda: d.a.Logout(auth_pb2.LogoutRequest(), metadata=bearer(session))
            )

        async def revoke_key() -> float:
            key_id, secret = await d.key(["geofences:read"])
            request = auth_pb2.RevokeApiKeyRequest(id=key_id)
            return await _refused_after(
                client, secret, lambda: d.a.RevokeApiKey(request, metadata=bearer(d.admin))
            )

        async def rotate_key() -> float:
            key_id, secret = await d.key(["geofences:read"])
            request = auth_pb2.RotateApiKeyRequest(id=key_id, overlap_seconds=0)
            return await _refused_after(
                client, secret, lambda: d.a.RotateApiKey(request, metadata=bearer(d.admin))
            )

        delays = [await (logout, revoke_key, rotate_key)[i % 3]() for i in range(51)]

        member = f"member-{uuid.uuid4().hex[:8]}@example.com"
        code, _, err = await _run(["user", "create", "--email", member], d.env, PASSWORD.encode() + b"\n")
        assert code == 0, err
        member_token = await d.login(member)

        async def disable() -> None:
            code, _, err = await _run(["user", "disable", "--email", member], d.env)
            assert code == 0, err

        assert await _outcome(client, member_token) == "OK"
        await disable()
        started = time.monotonic()  # from the CLI's exit: its own start-up is not propagation
        while await _outcome(client, member_token) == "OK":
            assert time.monotonic() - started < 1.0
            await asyncio.sleep(0.002)

    p50, p99 = statistics.median(delays), statistics.quantiles(delays, n=100)[98]
    print(f"\nrevoking RPC on A -> SDK on B refuses: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    assert p99 <= 0.3


async def test_with_authsvc_away_answers_stay_local_until_stale_and_catch_up_after(
    deployment: Deployment,
) -> None:
    d = deployment
    valid, revoked = await d.login(), await d.login()
    _, key = await d.key(["geofences:read"])
    await d.a.Logout(auth_pb2.LogoutRequest(), metadata=bearer(revoked))
    async with AuthClient(d.b_target, local_verification_key=d.verifier, max_staleness_seconds=4.0) as client:
        assert await _outcome(client, valid) == "OK" and await _outcome(client, key) == "OK"
        await asyncio.sleep(0.2)  # B's logout notice reached the stream: refused before the stop
        assert await _outcome(client, revoked) == "UNAUTHENTICATED"
        labels = {"target": d.b_target}
        assert REGISTRY.get_sample_value("authsvc_client_revocation_stream_up", labels) == 1.0
        assert REGISTRY.get_sample_value("authsvc_client_revocation_stream_lag_seconds", labels) < 1.0

        await d.b.stop()
        stopped = time.monotonic()
        gone_while_down = await d.login()
        await d.a.Logout(auth_pb2.LogoutRequest(), metadata=bearer(gone_while_down))
        # The stream dropped at SIGTERM, up to a grace second before `stopped`: stay well inside.
        while time.monotonic() - stopped < 1.5:  # local answers, from what the SDK holds
            assert await _outcome(client, valid) == "OK"
            assert await _outcome(client, key) == "OK"
            assert await _outcome(client, revoked) == "UNAUTHENTICATED"
            await asyncio.sleep(0.05)
        await asyncio.sleep(4.5 - (time.monotonic() - stopped))  # past max_staleness_seconds
        for token in (valid, key, revoked, gone_while_down):
            assert await _outcome(client, token) == "UNAVAILABLE"
        assert REGISTRY.get_sample_value("authsvc_client_revocation_stream_up", labels) == 0.0
        assert REGISTRY.get_sample_value("authsvc_client_revocation_stream_lag_seconds", labels) > 4.0

        await d.restart_b()
        restarted = time.monotonic()
        while await _outcome(client, valid) != "OK":
            assert time.monotonic() - restarted < 5.0
            await asyncio.sleep(0.05)
        # The logout made while the stream was down is applied (by resuming or from a snapshot).
        assert await _outcome(client, gone_while_down) == "UNAUTHENTICATED"
        assert await _outcome(client, key) == "OK"


async def test_tokens_under_keys_the_sdk_does_not_hold_are_refused(deployment: Deployment) -> None:
    d = deployment
    token = await d.login()
    claims = jwt.decode(token, options={"verify_signature": False})
    stranger = Ed25519PrivateKey.generate()
    unknown_kid = jwt.encode(
        claims, stranger, algorithm="EdDSA", headers={"typ": "at+jwt", "kid": "ed-stranger"}
    )
    real_kid = jwt.get_unverified_header(token)["kid"]
    forged = jwt.encode(claims, stranger, algorithm="EdDSA", headers={"typ": "at+jwt", "kid": real_kid})
    hs256 = jwt.encode(claims, TEST_SECRET, algorithm="HS256", headers={"typ": "at+jwt", "kid": real_kid})
    async with AuthClient(d.b_target, local_verification_key=d.verifier) as client:
        assert await _outcome(client, token) == "OK"
        before = await _validation_calls(d.b)
        for bad in (unknown_kid, forged):  # refused here, AuthService not asked
            assert await _outcome(client, bad) == "UNAUTHENTICATED"
        assert await _validation_calls(d.b) == before
        # HS256 is never accepted locally: AuthService is asked, and refuses it too.
        assert await _outcome(client, hs256) == "UNAUTHENTICATED"
        assert await _validation_calls(d.b) == before + 1


async def test_the_facade_answers_me_and_verify_locally(deployment: Deployment) -> None:
    d = deployment
    token, other = await d.login(), await d.login()
    _, reader = await d.key(["geofences:read"])
    async with local_facade(d, max_staleness_seconds=4.0) as url, aiohttp.ClientSession(url) as http:
        me, verify = "/api/v1/auth/me", "/api/v1/auth/verify?permissions=geofences:read&cost=0"
        async with http.get(me, headers={"Authorization": f"Bearer {reader}"}) as reply:
            body = await reply.json()
            assert reply.status == 200 and body["kind"] == "api_key" and body["environment"] == "test"
        assert await _status(http, verify, reader) == 204
        assert await _status(http, verify, token) == 204  # an admin holds geofences:read
        before = await _validation_calls(d.b)
        for _ in range(50):  # no AuthService call per request
            assert await _status(http, me, token) == 200
            assert await _status(http, verify, reader) == 204
        assert await _validation_calls(d.b) == before
        # A charge is counted by AuthService: forward auth's default cost of 1 still asks it.
        assert await _status(http, "/api/v1/auth/verify?permissions=geofences:read", reader) == 204
        assert await _validation_calls(d.b) == before + 1
        async with http.get(
            "/api/v1/auth/verify?permissions=geofences:write", headers={"Authorization": f"Bearer {reader}"}
        ) as denied:
            assert denied.status == 403 and await denied.json() == {"detail": "Insufficient permissions"}

        await d.a.Logout(auth_pb2.LogoutRequest(), metadata=bearer(other))
        started = time.monotonic()
        while await _status(http, me, other) == 200:
            assert time.monotonic() - started < 1.0
            await asyncio.sleep(0.005)
        async with http.get(me, headers={"Authorization": f"Bearer {other}"}) as refused:
            assert refused.status == 401 and await refused.json() == {"detail": "Invalid or expired token"}

        await d.b.stop()  # AuthService away: local answers, no 5xx, until stale; then 503
        stopped = time.monotonic()
        while time.monotonic() - stopped < 1.5:
            assert await _status(http, me, token) == 200
            assert await _status(http, verify, reader) == 204
            assert await _status(http, me, other) == 401
            await asyncio.sleep(0.05)
        await asyncio.sleep(4.5 - (time.monotonic() - stopped))
        async with http.get(me, headers={"Authorization": f"Bearer {token}"}) as down:
            assert down.status == 503 and await down.json() == {"detail": "Service unavailable"}
