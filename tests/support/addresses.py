"""Addresses for tests: a free local port, and unique client IPs for rate-limit tests.

The client IPs come from the IPv6 documentation prefix (RFC 3849), each in a /64 of its own (per
client limits count an IPv6 client by its /64), and only ever appear as `x-forwarded-for`
metadata beside the suite's proxy token: no traffic goes to them.
"""

from __future__ import annotations

import secrets
import socket

from authsvc.call_metadata import FORWARDED_FOR, PROXY_TOKEN

# What the suite's AuthServices accept as proof that a caller is a proxy (the facade, the tests).
TEST_PROXY_TOKEN = "test-proxy-" + secrets.token_hex(16)


def free_port() -> int:
    """A local port nothing listens on (until someone binds it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unique_client_ip() -> str:
    """An address in a /64 of its own."""
    return f"2001:db8:{secrets.token_hex(2)}:{secrets.token_hex(2)}::{secrets.token_hex(2)}"


def forwarded_for(ip: str, token: str = TEST_PROXY_TOKEN) -> tuple[tuple[str, str], ...]:
    """Metadata of a proxy that names `ip` as its client, with its proof."""
    return ((FORWARDED_FOR, ip), (PROXY_TOKEN, token))
