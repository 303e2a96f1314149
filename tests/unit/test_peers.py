"""The client IP AuthService believes: the gRPC peer, or what a trusted proxy says it is."""

from __future__ import annotations

import pytest

from authsvc.domain.networks import parse_networks
from authsvc.grpc_api.peers import client_ip

LOOPBACK = parse_networks("127.0.0.1/32, ::1/128")
SAYS = (("x-forwarded-for", "198.51.100.7"),)


@pytest.mark.parametrize(
    ("peer", "metadata", "expected"),
    [
        ("ipv4:203.0.113.5:4000", SAYS, "203.0.113.5"),  # not a trusted proxy: its say-so means nothing
        ("ipv4:127.0.0.1:4000", SAYS, "198.51.100.7"),
        ("ipv6:[::1]:4000", SAYS, "198.51.100.7"),
        ("ipv6:[::ffff:127.0.0.1]:4000", SAYS, "198.51.100.7"),  # a dual-stack socket's loopback
        ("ipv6:[::ffff:203.0.113.5]:4000", SAYS, "203.0.113.5"),
        ("ipv4:127.0.0.1:4000", (("x-forwarded-for", "not-an-ip"),), "127.0.0.1"),
        ("ipv4:127.0.0.1:4000", (), "127.0.0.1"),
        ("unix:/run/authsvc.sock", SAYS, "unix:/run/authsvc.sock"),
    ],
)
def test_client_ip(peer: str, metadata: tuple[tuple[str, str], ...], expected: str) -> None:
    assert client_ip(peer, metadata, LOOPBACK) == expected
