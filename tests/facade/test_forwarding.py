"""What reaches AuthService with each call: the Authorization header untouched, the client IP
(X-Forwarded-For only from trusted proxies) and the request id, which is echoed back.

(/me and /verify are checks batched into ValidateTokens calls, which carry only the tokens:
test_token_checks.py.)"""

from __future__ import annotations

import re

import aiohttp
import pytest

from authsvc.domain.networks import parse_networks
from http_facade.client_address import client_address
from tests.facade.client import Facade
from tests.facade.conftest import FacadeFactory
from tests.facade.scripted import Scripted
from tests.support.addresses import TEST_PROXY_TOKEN


def _last_call(scripted: Scripted) -> dict[str, str]:
    metadata = scripted.servicer.seen[-1]
    names = [key for key, _ in metadata]
    assert len(names) == len(set(names)), metadata
    return dict(metadata)


async def test_authorization_ip_and_request_id_are_forwarded(
    start_facade: FacadeFactory, scripted: Scripted
) -> None:
    facade = await start_facade(scripted.target)
    authorization = "Bearer eyJ.abc-DEF_123~+/=  trailing-part"
    reply = await facade.call(
        "GET",
        "/api/v1/api-keys",
        headers={"Authorization": authorization, "X-Request-ID": "req-42", "X-Forwarded-For": "198.51.100.7"},
    )
    assert reply.status == 200 and reply.headers["X-Request-ID"] == "req-42"
    seen = _last_call(scripted)
    assert seen["authorization"] == authorization
    assert seen["x-request-id"] == "req-42"
    assert seen["x-forwarded-for"] == "127.0.0.1"  # the client is no trusted proxy: its header is ignored
    assert seen["x-authsvc-proxy-token"] == TEST_PROXY_TOKEN  # what makes AuthService believe it

    await facade.call("POST", "/api/v1/auth/login", json_body={"email": "a@example.com", "password": "p"})
    assert "authorization" not in _last_call(scripted)


async def test_without_a_proxy_token_none_is_sent(start_facade: FacadeFactory, scripted: Scripted) -> None:
    facade = await start_facade(scripted.target, proxy_token=None)
    await facade.call("GET", "/api/v1/api-keys", token="t")
    assert "x-authsvc-proxy-token" not in _last_call(scripted)


async def test_the_socket_peer_is_the_client(start_facade: FacadeFactory, scripted: Scripted) -> None:
    facade = await start_facade(scripted.target)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=("127.0.0.9", 0))) as session:
        from_elsewhere = Facade(facade.base_url, session)
        await from_elsewhere.call("GET", "/api/v1/api-keys", token="t")
    assert _last_call(scripted)["x-forwarded-for"] == "127.0.0.9"


async def test_behind_trusted_proxies_the_rightmost_untrusted_address_is_the_client(
    start_facade: FacadeFactory, scripted: Scripted
) -> None:
    trusted = parse_networks("127.0.0.0/8, 10.0.0.0/8")
    facade = await start_facade(scripted.target, trusted_proxies=trusted)
    for chain, client in [
        ("203.0.113.9", "203.0.113.9"),
        ("198.51.100.1, 203.0.113.9, 10.0.0.2", "203.0.113.9"),  # the left-most one is the client's say-so
        ("not-an-ip, 10.0.0.2", "10.0.0.2"),
        ("2001:db8::1", "2001:db8::1"),
    ]:
        await facade.call("GET", "/api/v1/api-keys", headers={"X-Forwarded-For": chain})
        assert _last_call(scripted)["x-forwarded-for"] == client, chain


async def test_an_insane_request_id_is_replaced(start_facade: FacadeFactory, scripted: Scripted) -> None:
    facade = await start_facade(scripted.target)
    for sent in ("<script>", "x" * 200, "a b", ""):
        reply = await facade.call("GET", "/api/v1/api-keys", headers={"X-Request-ID": sent})
        echoed = reply.headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", echoed), sent
        assert _last_call(scripted)["x-request-id"] == echoed
    first = (await facade.call("GET", "/healthz")).headers["X-Request-ID"]
    assert first != (await facade.call("GET", "/healthz")).headers["X-Request-ID"]


TRUSTED = parse_networks("10.0.0.0/8, 192.0.2.1, 2001:db8::/32")


@pytest.mark.parametrize(
    ("peer", "headers", "expected"),
    [
        ("203.0.113.5", ["198.51.100.1"], "203.0.113.5"),  # untrusted peer: its header means nothing
        ("10.1.2.3", [], "10.1.2.3"),
        ("10.1.2.3", ["198.51.100.1"], "198.51.100.1"),
        ("10.1.2.3", ["198.51.100.1, 192.0.2.1"], "198.51.100.1"),
        ("10.1.2.3", ["6.6.6.6, 198.51.100.1, 10.9.9.9"], "198.51.100.1"),
        ("10.1.2.3", ["6.6.6.6", "198.51.100.1"], "198.51.100.1"),  # several headers are one list
        ("10.1.2.3", ["10.0.0.1, 10.0.0.2"], "10.0.0.1"),  # all trusted: the left-most
        ("10.1.2.3", ["198.51.100.1, junk"], "10.1.2.3"),  # unparsable: stop at the last trusted hop
        ("10.1.2.3", ["[2001:db8::5], 203.0.113.1"], "203.0.113.1"),
        ("::ffff:10.1.2.3", ["198.51.100.1"], "198.51.100.1"),  # IPv4-mapped peer
        ("2001:db8::7", ["2001:db9::1"], "2001:db9::1"),
        (None, ["198.51.100.1"], ""),
    ],
)
def test_client_address(peer: str | None, headers: list[str], expected: str) -> None:
    assert client_address(peer, headers, TRUSTED) == expected
