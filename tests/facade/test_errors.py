"""Every error row: gRPC statuses → HTTP and `{"detail"}`, AuthService or its database down, deadlines,
rate limits, and aiohttp's own 404/405/413 — always JSON, never a trace or an internal message."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest

from authsvc.adapters.database import Database
from authsvc.adapters.pg_api_keys import BatchedUsageRecorder
from authsvc.bootstrap import build_services
from authsvc.config import Settings as AuthSettings
from authsvc.domain import api_key_format
from authsvc.domain.networks import parse_networks
from authsvc.domain.rate_limits import RateLimit
from authsvc.grpc_api.health import ServingHealth
from authsvc.grpc_api.server import start_server
from tests.conftest import TEST_SECRET, AccountFactory, Running, ServerFactory
from tests.facade.client import Facade, Reply
from tests.facade.conftest import NOT_SERVING, SERVING, FacadeFactory
from tests.facade.scripted import Script, Scripted
from tests.support.addresses import unique_client_ip
from tests.support.clock import FakeClock

S = grpc.StatusCode
LEAK = "boom at /srv/authsvc/secret.py line 42"
# status, its HTTP status, and the detail the caller sees (None: AuthService's own text, shown).
TABLE = [
    (S.CANCELLED, 499, "Request cancelled"),
    (S.UNKNOWN, 500, "Internal server error"),
    (S.INVALID_ARGUMENT, 400, None),
    (S.DEADLINE_EXCEEDED, 504, "Upstream timeout"),
    (S.NOT_FOUND, 404, None),
    (S.ALREADY_EXISTS, 409, None),
    (S.PERMISSION_DENIED, 403, "Insufficient permissions"),
    (S.UNAUTHENTICATED, 401, None),
    (S.RESOURCE_EXHAUSTED, 429, "Rate limit exceeded"),
    (S.FAILED_PRECONDITION, 400, None),
    (S.ABORTED, 409, None),
    (S.OUT_OF_RANGE, 400, None),
    (S.UNIMPLEMENTED, 501, "Not implemented"),
    (S.INTERNAL, 500, "Internal server error"),
    (S.UNAVAILABLE, 503, "Service unavailable"),
    (S.DATA_LOSS, 500, "Internal server error"),
]
# One call per kind of path: no body, a JSON body, a path parameter.
CALLS = [
    ("POST", "/api/v1/auth/login", {"email": "a@example.com", "password": "p"}),
    ("GET", "/api/v1/api-keys", None),
    ("DELETE", "/api/v1/api-keys/some-id", None),
]


def _no_leak(reply: Reply) -> None:
    assert b"Traceback" not in reply.raw and b"secret.py" not in reply.raw and b"127.0.0.1" not in reply.raw


@pytest.mark.parametrize(("code", "status", "detail"), TABLE, ids=[row[0].name for row in TABLE])
async def test_each_grpc_status_maps_to_its_http_status(
    start_facade: FacadeFactory, scripted: Scripted, code: grpc.StatusCode, status: int, detail: str | None
) -> None:
    facade = await start_facade(scripted.target)
    text = "Said by AuthService" if detail is None else LEAK
    scripted.servicer.script = Script(code, text)
    for method, path, body in CALLS:
        reply = await facade.call(method, path, json_body=body, token="t0ken")
        assert reply.status == status, (method, path)
        assert reply.detail == (detail or text)
        assert reply.headers["Content-Type"].startswith("application/json")
        _no_leak(reply)


async def test_401_403_and_429_carry_their_headers(start_facade: FacadeFactory, scripted: Scripted) -> None:
    facade = await start_facade(scripted.target)
    scripted.servicer.script = Script(S.UNAUTHENTICATED, "Token expired")
    presented = await facade.call("GET", "/api/v1/auth/me", token="t0ken")
    assert presented.headers["WWW-Authenticate"] == (
        'Bearer error="invalid_token", error_description="Token expired"'
    )
    assert (await facade.call("GET", "/api/v1/auth/me")).headers["WWW-Authenticate"] == "Bearer"
    scripted.servicer.script = Script(S.PERMISSION_DENIED, "Insufficient permissions")
    denied = await facade.call("GET", "/api/v1/api-keys", token="t0ken")
    assert denied.headers["WWW-Authenticate"] == (
        'Bearer error="insufficient_scope", error_description="Insufficient permissions"'
    )
    # A detail RFC 6750 cannot carry in a quoted string stays in the body alone.
    scripted.servicer.script = Script(S.UNAUTHENTICATED, 'Say "hi" \\ to é')
    odd = await facade.call("GET", "/api/v1/auth/me", token="t0ken")
    assert odd.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert odd.detail == 'Say "hi" \\ to é'

    for trailers, expected in [
        ((("retry-after", "7"),), "7"),
        ((("retry-after", "2.2"),), "3"),
        ((), "60"),
        ((("retry-after", "soon"),), "60"),
        ((("retry-after", "-5"),), "60"),
    ]:
        scripted.servicer.script = Script(S.RESOURCE_EXHAUSTED, "Rate limit exceeded", trailers)
        limited = await facade.call("POST", "/api/v1/auth/refresh", json_body={"refresh_token": "r"})
        assert limited.status == 429 and limited.detail == "Rate limit exceeded"
        assert limited.headers["Retry-After"] == expected, trailers


async def test_a_crash_inside_authsvc_is_a_generic_500(
    start_facade: FacadeFactory, scripted: Scripted
) -> None:
    facade = await start_facade(scripted.target)
    scripted.servicer.script = Script(crash=True)  # grpcio answers UNKNOWN "Unexpected <class ...>: boom..."
    reply = await facade.call("GET", "/api/v1/auth/me", token="t0ken")
    assert reply.status == 500 and reply.detail == "Internal server error"
    _no_leak(reply)


async def test_a_slow_authsvc_is_504_at_the_deadline(start_facade: FacadeFactory, scripted: Scripted) -> None:
    facade = await start_facade(scripted.target, call_timeout_seconds=0.2)
    scripted.servicer.script = Script(delay=2)
    started = asyncio.get_running_loop().time()
    reply = await facade.call("GET", "/api/v1/api-keys", token="t0ken")
    assert reply.status == 504 and reply.detail == "Upstream timeout"
    assert asyncio.get_running_loop().time() - started < 1.5


async def test_a_login_slower_than_the_deadline_is_504(
    start_facade: FacadeFactory, authsvc: Running, make_account: AccountFactory
) -> None:
    facade = await start_facade(f"127.0.0.1:{authsvc.port}", call_timeout_seconds=0.01)
    account = await make_account()  # bcrypt alone takes longer than 10 ms
    body = {"email": account.email, "password": account.password}
    reply = await facade.call("POST", "/api/v1/auth/login", json_body=body)
    assert reply.status == 504 and reply.detail == "Upstream timeout"


async def test_unreachable_authsvc_is_503_never_401(
    start_facade: FacadeFactory, closed_port: int, authsvc: Running, make_account: AccountFactory
) -> None:
    good = await start_facade(f"127.0.0.1:{authsvc.port}")
    account = await make_account()
    token = (await good.login(account.email, account.password))["access_token"]
    facade = await start_facade(f"127.0.0.1:{closed_port}")
    replies = [
        await facade.call("POST", "/api/v1/auth/login", json_body={"email": account.email, "password": "x"}),
        await facade.call("GET", "/api/v1/auth/me", token=token),
        await facade.call("GET", "/api/v1/api-keys", token=token),
        await facade.call("GET", "/readyz"),
    ]
    for reply in replies:
        assert reply.status == 503 and reply.detail == "Service unavailable"
        _no_leak(reply)
    assert (await facade.call("GET", "/healthz")).status == 200


@pytest.fixture
async def authsvc_without_database(settings: AuthSettings, closed_port: int) -> AsyncIterator[str]:
    """A real AuthService whose PostgreSQL cannot be reached; its target."""
    dsn = f"postgresql://postgres@127.0.0.1:{closed_port}/nowhere"
    database = Database(await asyncpg.create_pool(dsn, min_size=0, max_size=2, timeout=2), acquire_timeout=2)
    services = build_services(settings, database, TEST_SECRET, FakeClock(), BatchedUsageRecorder(database))
    health = ServingHealth(database.ping)
    assert await health.check_once() is False
    server, port = await start_server(services, "127.0.0.1:0", health)
    yield f"127.0.0.1:{port}"
    await server.stop(None)
    await database.close()


async def test_authsvc_without_its_database_is_503_never_401(
    start_facade: FacadeFactory, authsvc_without_database: str
) -> None:
    facade = await start_facade(authsvc_without_database)
    replies = [
        await facade.call(
            "POST", "/api/v1/auth/login", json_body={"email": "a@example.com", "password": "x"}
        ),
        await facade.call("GET", "/api/v1/auth/me", token=api_key_format.generate("live")),
        await facade.call("GET", "/readyz"),
    ]
    for reply in replies:
        assert reply.status == 503 and reply.detail == "Service unavailable"
        _no_leak(reply)


async def test_readyz_follows_the_health_status(start_facade: FacadeFactory, scripted: Scripted) -> None:
    facade = await start_facade(scripted.target)
    await scripted.health.set("authsvc.v1.AuthService", SERVING)
    assert (await facade.call("GET", "/readyz")).status == 200
    await scripted.health.set("authsvc.v1.AuthService", NOT_SERVING)
    reply = await facade.call("GET", "/readyz")
    assert reply.status == 503 and reply.detail == "Service unavailable"


async def test_login_rate_limit_is_429_with_retry_after_per_forwarded_client(
    start_facade: FacadeFactory, start_authsvc: ServerFactory, make_account: AccountFactory
) -> None:
    running = await start_authsvc(login_rate_limit=RateLimit(1, 60))
    facade = await start_facade(f"127.0.0.1:{running.port}", trusted_proxies=parse_networks("127.0.0.0/8"))
    account = await make_account()
    body = {"email": account.email, "password": account.password}
    client = unique_client_ip()

    first = await facade.call(
        "POST", "/api/v1/auth/login", json_body=body, headers={"X-Forwarded-For": client}
    )
    assert first.status == 200
    second = await facade.call(
        "POST", "/api/v1/auth/login", json_body=body, headers={"X-Forwarded-For": client}
    )
    assert second.status == 429 and second.detail == "Rate limit exceeded"
    assert 1 <= int(second.headers["Retry-After"]) <= 60
    other = {"X-Forwarded-For": unique_client_ip()}
    assert (await facade.call("POST", "/api/v1/auth/login", json_body=body, headers=other)).status == 200


async def test_aiohttp_errors_are_json_too(facade: Facade) -> None:
    missing = await facade.call("GET", "/api/v1/nothing-here")
    assert missing.status == 404 and missing.detail == "Not Found"
    wrong_method = await facade.call("PUT", "/api/v1/auth/login")
    assert wrong_method.status == 405 and wrong_method.detail == "Method Not Allowed"
    assert wrong_method.headers["Allow"] == "POST"
    head = await facade.call("HEAD", "/healthz")
    assert head.status == 405
    too_big = await facade.call(
        "POST",
        "/api/v1/auth/login",
        data=b"{" + b" " * 70_000 + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert too_big.status == 413 and too_big.detail == "Request Entity Too Large"
    for reply in (missing, wrong_method, too_big):
        assert reply.headers["X-Request-ID"]
