"""Addresses for tests: a free local port, and unique client IPs for rate-limit tests.

The client IPs come from the IPv6 documentation prefix (RFC 3849) and only ever appear as
`x-forwarded-for` metadata from the trusted loopback peer: no traffic goes to them.
"""

from __future__ import annotations

import secrets
import socket


def free_port() -> int:
    """A local port nothing listens on (until someone binds it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unique_client_ip() -> str:
    return f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"


def forwarded_for(ip: str) -> tuple[tuple[str, str], ...]:
    return (("x-forwarded-for", ip),)
