"""The client IP AuthService believes: the gRPC peer, or what a proxy holding its token says it is."""

from __future__ import annotations

import pytest

from authsvc.domain.networks import client_network, parse_networks
from authsvc.grpc_api.peers import NOBODY, TrustedProxies, client_ip

TOKEN = "t" * 40
LOOPBACK = parse_networks("127.0.0.1/32, ::1/128")
ANYWHERE = TrustedProxies([TOKEN, "second-token-" + "s" * 30])
FROM_LOOPBACK = TrustedProxies([TOKEN], LOOPBACK)
SAYS = (("x-forwarded-for", "198.51.100.7"), ("x-authsvc-proxy-token", TOKEN))
SAYS_WITHOUT_TOKEN = (("x-forwarded-for", "198.51.100.7"),)
SAYS_WITH_A_WRONG_TOKEN = (("x-forwarded-for", "198.51.100.7"), ("x-authsvc-proxy-token", TOKEN + "x"))


@pytest.mark.parametrize(
    ("peer", "metadata", "proxies", "expected"),
    [
        ("ipv4:127.0.0.1:4000", SAYS, NOBODY, "127.0.0.1"),  # the default: nobody's say-so counts
        ("ipv4:127.0.0.1:4000", SAYS_WITHOUT_TOKEN, ANYWHERE, "127.0.0.1"),  # loopback proves nothing
        ("ipv4:127.0.0.1:4000", SAYS_WITH_A_WRONG_TOKEN, ANYWHERE, "127.0.0.1"),
        ("ipv4:127.0.0.1:4000", SAYS, ANYWHERE, "198.51.100.7"),
        ("ipv4:203.0.113.5:4000", SAYS, ANYWHERE, "198.51.100.7"),  # the token is the proof
        ("ipv4:203.0.113.5:4000", SAYS, FROM_LOOPBACK, "203.0.113.5"),  # ...and networks narrow it
        ("ipv6:[::1]:4000", SAYS, FROM_LOOPBACK, "198.51.100.7"),
        ("ipv6:[::ffff:127.0.0.1]:4000", SAYS, FROM_LOOPBACK, "198.51.100.7"),  # dual-stack loopback
        ("ipv6:[::ffff:203.0.113.5]:4000", SAYS, FROM_LOOPBACK, "203.0.113.5"),
        ("ipv4:127.0.0.1:4000", (("x-forwarded-for", "not-an-ip"), SAYS[1]), ANYWHERE, "127.0.0.1"),
        ("ipv4:127.0.0.1:4000", (SAYS[1],), ANYWHERE, "127.0.0.1"),
        ("ipv4:127.0.0.1:4000", (), ANYWHERE, "127.0.0.1"),
        ("unix:/run/authsvc.sock", SAYS_WITHOUT_TOKEN, ANYWHERE, "unix:/run/authsvc.sock"),
        ("unix:/run/authsvc.sock", SAYS, FROM_LOOPBACK, "unix:/run/authsvc.sock"),
    ],
)
def test_client_ip(
    peer: str, metadata: tuple[tuple[str, str], ...], proxies: TrustedProxies, expected: str
) -> None:
    assert client_ip(peer, metadata, proxies) == expected


def test_a_second_token_works_too() -> None:
    says = (("x-forwarded-for", "192.0.2.9"), ("x-authsvc-proxy-token", "second-token-" + "s" * 30))
    assert client_ip("ipv4:127.0.0.1:1", says, ANYWHERE) == "192.0.2.9"


@pytest.mark.parametrize(
    ("address", "prefix", "expected"),
    [
        ("192.0.2.7", 64, "192.0.2.7"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", 64, "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", 64, "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", 48, "2001:db8:1::/48"),
        ("2001:db8:1:2::1", 128, "2001:db8:1:2::1/128"),
        ("::ffff:192.0.2.7", 64, "192.0.2.7"),  # an IPv4-mapped address is its IPv4 address
        ("unix:/run/authsvc.sock", 64, "unix:/run/authsvc.sock"),
    ],
)
def test_limits_count_an_ipv6_client_by_its_network(address: str, prefix: int, expected: str) -> None:
    assert client_network(address, prefix) == expected
