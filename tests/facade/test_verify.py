"""GET /api/v1/auth/verify, the forward-auth contract, called directly (test_gateway.py puts nginx in
front): 204 with who the caller is, or the error table's JSON."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from urllib.parse import urlsplit

from tests.conftest import AccountFactory, Running
from tests.facade.client import Facade

VERIFY = "/api/v1/auth/verify"


async def test_a_good_token_gets_204_and_the_identity_headers(
    facade: Facade, make_account: AccountFactory
) -> None:
    account = await make_account("admin")
    token = (await facade.login(account.email, account.password))["access_token"]
    key = await facade.create_api_key(token, ["geofences:read", "webhooks:read"], "test", "verify")

    as_key = await facade.call("GET", f"{VERIFY}?permissions=geofences:read", token=key["key"])
    assert as_key.status == 204 and as_key.raw == b""
    assert as_key.headers["X-Auth-Subject"] == key["id"]
    assert as_key.headers["X-Auth-Kind"] == "api_key"
    assert as_key.headers["X-Auth-User"] == account.user_id
    assert as_key.headers["X-Auth-Workspace"] == account.workspace_id
    assert as_key.headers["X-Auth-Permissions"] == "geofences:read,webhooks:read"
    assert as_key.headers["Cache-Control"] == "no-store"  # never one caller's identity for another

    as_user = await facade.call("GET", VERIFY, token=token)  # no permissions asked: a valid token
    assert as_user.status == 204
    assert as_user.headers["X-Auth-Subject"] == account.user_id and as_user.headers["X-Auth-Kind"] == "user"
    assert "workspace:admin" in as_user.headers["X-Auth-Permissions"].split(",")


async def test_every_permission_asked_for_must_be_held(facade: Facade, make_account: AccountFactory) -> None:
    account = await make_account("admin")
    token = (await facade.login(account.email, account.password))["access_token"]
    key = (await facade.create_api_key(token, ["geofences:read", "webhooks:read"], "test", "verify"))["key"]
    for query in (
        "permissions=geofences:read,webhooks:read",
        "permissions=geofences:read&permissions=webhooks:read",
        "permissions=%20geofences:read%20,,webhooks:read,",
    ):
        assert (await facade.call("GET", f"{VERIFY}?{query}", token=key)).status == 204, query
    for query in ("permissions=geofences:read,webhooks:write", "permissions=geofences:read&permissions=x:y"):
        denied = await facade.call("GET", f"{VERIFY}?{query}", token=key)
        assert denied.status == 403 and denied.detail == "Insufficient permissions", query
        assert denied.headers["WWW-Authenticate"] == (
            'Bearer error="insufficient_scope", error_description="Insufficient permissions"'
        )
    # A client's own header asks for nothing: only the gateway's URL does.
    spoof = await facade.call(
        "GET", f"{VERIFY}?permissions=webhooks:write", token=key, headers={"X-Auth-Required-Permissions": ""}
    )
    assert spoof.status == 403


async def test_no_or_a_bad_token_is_401_with_the_documented_text(facade: Facade) -> None:
    missing = await facade.call("GET", VERIFY)
    assert missing.status == 401 and missing.detail == "Not authenticated"
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    bad = await facade.call("GET", VERIFY, token="sf_live_not-a-key")
    assert bad.status == 401 and bad.detail == "Invalid or expired token"
    assert "X-Auth-Subject" not in bad.headers


async def _raw_get(base_url: str, target: bytes) -> tuple[bytes, bytes]:
    address = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        reply = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = reply.partition(b"\r\n\r\n")
    return head, body


async def test_a_permissions_parameter_that_is_not_utf8_is_a_400(facade: Facade, authsvc: Running) -> None:
    target = VERIFY.encode() + b"?permissions=geofences:read,\xff"
    # aiohttp's C parser refuses the byte itself...
    head, _ = await _raw_get(facade.base_url, target)
    assert head.split(b" ")[1] == b"400"
    # ...its pure-Python parser (no C extensions) lets it through as a lone surrogate, which
    # protobuf cannot encode: the facade refuses it as JSON, never a 500.
    env = {
        **os.environ,
        "AIOHTTP_NO_EXTENSIONS": "1",
        "HTTP_FACADE_PORT": "0",
        "HTTP_FACADE_AUTHSVC_TARGET": f"127.0.0.1:{authsvc.port}",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "http_facade", "serve", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        found = re.search(r"listening on (http://\S+)", line)
        assert found, line
        head, body = await _raw_get(found.group(1), target)
        assert head.split(b" ")[1] == b"400", head
        assert body == b'{"detail": "Malformed permissions parameter"}'
    finally:
        process.terminate()
        await process.wait()
