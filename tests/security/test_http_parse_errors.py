"""Requests the HTTP parser refuses, and what a reply gives away (review findings 5 and 13).

Before: aiohttp answered a header line over 8,190 bytes with a text/plain 400 quoting the header
(an API key in `Authorization` included), logged it at ERROR with a traceback, and every reply
said `Server: Python/3.11 aiohttp/3.14.5`.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

import pytest

from tests.conftest import AccountFactory
from tests.facade.client import Facade
from tests.security.conftest import Capture

ME = "/api/v1/auth/me"
VERIFY = "/api/v1/auth/verify"


async def _raw(facade: Facade, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Sends bytes exactly as given and reads the whole reply: status, headers, body."""
    address = urlsplit(facade.base_url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(request)
        await writer.drain()
        reply = await asyncio.wait_for(reader.read(), 10)  # error replies close the connection
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = reply.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split(" ")[1]), headers, body


def _get(path: bytes, *headers: bytes) -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n"


async def test_an_api_key_in_an_oversized_header_is_neither_echoed_nor_logged(
    facade: Facade, make_account: AccountFactory, captured: Capture
) -> None:
    account = await make_account("admin")
    token = (await facade.login(account.email, account.password))["access_token"]
    secret = (await facade.create_api_key(token, ["geofences:read"], "live"))["key"]
    captured.lines.clear()

    status, headers, body = await _raw(
        facade, _get(ME.encode(), b"Authorization: Bearer " + secret.encode() + b"A" * 8200)
    )

    assert status == 431
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body) == {"detail": "Request header fields too large"}
    assert secret.encode() not in body and secret[:20].encode() not in body
    logged = "\n".join(captured.lines)
    assert secret[:20] not in logged and "AAAAAAAA" not in logged
    assert "Traceback" not in logged
    refusals = [json.loads(line) for line in captured.lines if "does not parse" in line]
    assert [(entry["level"], entry["logger"]) for entry in refusals] == [("WARNING", "http_facade")]


@pytest.mark.parametrize(
    ("request_bytes", "status", "detail", "echo"),
    [
        (_get(b"/" + b"a" * 9000), 414, "Request line too long", b"aaaaaaaa"),
        (
            _get(ME.encode(), b"X-Long-" + b"N" * 9000 + b": a"),
            431,
            "Request header fields too large",
            b"NNNN",
        ),
        (_get(ME.encode(), b"Ho st: secret-value"), 400, "Malformed request", b"secret-value"),
        (_get(ME.encode(), b"X-A: secret\x00value"), 400, "Malformed request", b"secret"),
        (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400, "Malformed request", b"9.9"),
        (
            b"POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: secret\r\n\r\n",
            400,
            "Malformed request",
            b"secret",
        ),
        (b"G@T /sneaky HTTP/1.1\r\nHost: x\r\n\r\n", 400, "Malformed request", b"sneaky"),
    ],
)
async def test_every_parse_error_is_documented_json_without_the_input(
    facade: Facade, captured: Capture, request_bytes: bytes, status: int, detail: str, echo: bytes
) -> None:
    got, headers, body = await _raw(facade, request_bytes)
    assert (got, json.loads(body)) == (status, {"detail": detail})
    assert headers["content-type"].startswith("application/json")
    assert echo not in body
    assert headers["server"] == "authsvc"
    assert all(echo.decode("latin-1") not in line for line in captured.lines)
    assert all("Traceback" not in line for line in captured.lines)


async def test_a_flood_of_parse_errors_logs_one_short_line_each(facade: Facade, captured: Capture) -> None:
    for _ in range(30):
        await _raw(facade, _get(ME.encode(), b"Authorization: Bearer " + b"x" * 9000))
    refusals = [line for line in captured.lines if "does not parse" in line]
    assert len(refusals) == 30
    assert all(len(line) < 400 and "Traceback" not in line for line in refusals)
    assert all("Traceback" not in line and "xxxxxxxx" not in line for line in captured.lines)


async def test_no_reply_names_the_server_software(facade: Facade) -> None:
    for method, path in (("GET", "/healthz"), ("GET", "/nowhere"), ("POST", "/healthz"), ("GET", ME)):
        reply = await facade.call(method, path)
        assert reply.headers["Server"] == "authsvc", (method, path)


async def test_head_on_verify_answers_as_get_does(facade: Facade, make_account: AccountFactory) -> None:
    account = await make_account("admin")
    token = (await facade.login(account.email, account.password))["access_token"]
    key = (await facade.create_api_key(token, ["geofences:read"]))["key"]
    asked = f"{VERIFY}?permissions=geofences:read"
    as_get = await facade.call("GET", asked, token=key)
    as_head = await facade.call("HEAD", asked, token=key)
    assert (as_get.status, as_head.status) == (204, 204)
    for name in ("X-Auth-Subject", "X-Auth-Kind", "X-Auth-User", "X-Auth-Workspace", "X-Auth-Permissions"):
        assert as_head.headers[name] == as_get.headers[name]
    denied = await facade.call("HEAD", f"{VERIFY}?permissions=webhooks:write", token=key)
    assert denied.status == 403 and "X-Auth-Subject" not in denied.headers
    assert (await facade.call("HEAD", VERIFY)).status == 401


async def test_a_percent_encoded_byte_that_is_not_utf8_is_a_400(
    facade: Facade, make_account: AccountFactory
) -> None:
    account = await make_account("admin")
    token = (await facade.login(account.email, account.password))["access_token"]
    for query in ("permissions=%ff", "permissions=geofences:read,%C3%28", "permissions=%ed%a0%80"):
        reply = await facade.call("GET", f"{VERIFY}?{query}", token=token)
        assert (reply.status, reply.detail) == (400, "Malformed permissions parameter"), query
    allowed = await facade.call("GET", f"{VERIFY}?permissions=geofences%3Aread", token=token)
    assert allowed.status == 204
