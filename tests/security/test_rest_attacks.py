"""Attacks through the REST face: the same refusals as over gRPC, in the documented JSON."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from urllib.parse import urlsplit

from authsvc.adapters.database import Database
from tests.conftest import AccountFactory
from tests.facade.client import Facade
from tests.security.conftest import Capture

ME = "/api/v1/auth/me"
KEYS = "/api/v1/api-keys"


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def _raw(facade: Facade, request: bytes) -> bytes:
    """Sends bytes exactly as given (no client library to tidy them up) and reads the reply."""
    address = urlsplit(facade.base_url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), 10)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_forged_tokens_get_the_generic_401(facade: Facade, make_account: AccountFactory) -> None:
    account = await make_account("admin")
    pair = await facade.login(account.email, account.password)
    header, payload, signature = pair["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged = [
        f"{_b64({'alg': 'none', 'typ': 'at+jwt'})}.{payload}.",
        f"{header}.{_b64({**claims, 'scope': 'workspace:admin'})}.{signature}",
        f"{header}.{payload}.{signature[:-2]}",
        pair["access_token"] + "=",
        pair["refresh_token"],
        "x" * 3000,
    ]
    for token in forged:
        reply = await facade.call("GET", ME, token=token)
        assert reply.status == 401, token[:40]
        assert reply.detail == "Invalid or expired token"
        assert reply.headers["WWW-Authenticate"] == (
            'Bearer error="invalid_token", error_description="Invalid or expired token"'
        )
    assert (await facade.call("GET", ME, token=pair["access_token"])).status == 200  # the control


async def test_an_oversized_authorization_header_is_a_4xx(facade: Facade) -> None:
    reply = await _raw(
        facade,
        b"GET "
        + ME.encode()
        + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + b"e" * 100_000
        + b"\r\n\r\n",
    )
    status = int(reply.split(b" ", 2)[1])
    assert 400 <= status < 500


async def test_wrong_password_and_unknown_email_look_the_same(
    facade: Facade, make_account: AccountFactory
) -> None:
    account = await make_account()
    replies = [
        await facade.call("POST", "/api/v1/auth/login", json_body={"email": email, "password": "not it"})
        for email in (account.email, "nobody-" + account.email)
    ]
    assert [(r.status, r.raw) for r in replies] == [(401, b'{"detail": "Invalid credentials"}')] * 2


async def test_injection_in_inputs_is_stored_or_refused_cleanly(
    facade: Facade, make_account: AccountFactory, database: Database
) -> None:
    account = await make_account("admin")
    token = (await facade.login(account.email, account.password))["access_token"]
    for email in (
        "' OR '1'='1@example.com",
        "admin@example.com'; DROP TABLE users; --",
        "a\u202e@example.com",
    ):
        reply = await facade.call("POST", "/api/v1/auth/login", json_body={"email": email, "password": "x"})
        assert reply.status in (400, 401) and isinstance(reply.detail, str)
    name = "Robert'); DROP TABLE api_keys; -- \u0000\u202e\U0001f600"
    created = await facade.call(
        "POST",
        KEYS,
        token=token,
        json_body={"name": name, "permissions": ["geofences:read"], "environment": "live"},
    )
    assert created.status in (201, 400)
    if created.status == 201:
        assert created.json["name"] == name.strip()
    for permission in ("geofences:read'; --", "geofences:read\r\nX-Injected: 1"):
        refused = await facade.call(
            "POST",
            KEYS,
            token=token,
            json_body={"name": "n", "permissions": [permission], "environment": "live"},
        )
        assert refused.status == 400 and "X-Injected" not in str(refused.headers)
    assert await database.fetchval("SELECT count(*) FROM users") > 0
    assert await database.fetchval("SELECT to_regclass('api_keys') IS NOT NULL")


async def test_crlf_in_a_header_that_is_echoed_never_splits_the_reply(facade: Facade) -> None:
    reply = await _raw(
        facade,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
        b"X-Request-Id: abc\rX-Injected: yes\r\nConnection: close\r\n\r\n",
    )
    head = reply.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nX-Injected" not in head
    for line in head.split(b"\r\n")[1:]:
        assert not line.lower().startswith(b"x-injected")


async def test_list_and_create_replies_hold_the_secret_only_once(
    facade: Facade, make_account: AccountFactory
) -> None:
    account = await make_account("admin")
    token = (await facade.login(account.email, account.password))["access_token"]
    created = await facade.call(
        "POST",
        KEYS,
        token=token,
        json_body={"name": "once", "permissions": ["geofences:read"], "environment": "test"},
    )
    secret = created.json["key"]
    assert created.raw.count(secret.encode()) == 1
    assert created.raw.count(secret[12:].encode()) == 1
    listed = await facade.call("GET", KEYS, token=token)
    assert secret[12:].encode() not in listed.raw and listed.json["api_keys"][0]["prefix"] == secret[:12]
    me = await facade.call("GET", ME, token=secret)
    assert secret[12:].encode() not in me.raw


async def test_the_rest_flow_logs_no_secret(
    facade: Facade, make_account: AccountFactory, captured: Capture
) -> None:
    account = await make_account("admin")
    pair = await facade.login(account.email, account.password)
    await facade.call(
        "POST", "/api/v1/auth/login", json_body={"email": account.email, "password": "bad guess"}
    )
    rotated = await facade.call(
        "POST", "/api/v1/auth/refresh", json_body={"refresh_token": pair["refresh_token"]}
    )
    key = await facade.call(
        "POST",
        KEYS,
        token=rotated.json["access_token"],
        json_body={
            "name": f"k-{uuid.uuid4().hex[:6]}",
            "permissions": ["geofences:read"],
            "environment": "live",
        },
    )
    await facade.call("GET", ME, token=key.json["key"])
    await facade.call("GET", ME, token=pair["access_token"] + "x")
    text = "\n".join(captured.lines)
    for secret in (
        account.password,
        "bad guess",
        pair["access_token"],
        pair["refresh_token"],
        rotated.json["access_token"],
        key.json["key"],
        key.json["key"][12:],
    ):
        assert secret not in text
    assert "login succeeded" in text and "login failed" in text
