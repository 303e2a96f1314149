"""Unique client IPs for rate-limit tests, from the IPv6 documentation prefix (RFC 3849).

They only ever appear as `x-forwarded-for` metadata from the trusted loopback peer: no traffic
goes to them.
"""

from __future__ import annotations

import secrets


def unique_client_ip() -> str:
    return f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"


def forwarded_for(ip: str) -> tuple[tuple[str, str], ...]:
    return (("x-forwarded-for", ip),)
