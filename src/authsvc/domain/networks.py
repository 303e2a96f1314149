"""IP networks, as configured for trusted proxies."""

from __future__ import annotations

import ipaddress

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_ip(text: str) -> IPAddress | None:
    """An address as written in a peer or X-Forwarded-For ("[::1]" allowed); an IPv4-mapped IPv6
    address as the IPv4 one it carries, so a dual-stack socket never hides a trusted proxy."""
    try:
        address = ipaddress.ip_address(text.strip().removeprefix("[").removesuffix("]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_networks(text: str) -> tuple[Network, ...]:
    """ "10.0.0.0/8, 192.0.2.7, ::1/128" → networks (a bare address is a /32 or /128).

    Raises ValueError naming the first part that is no network, including one with host bits
    set ("10.0.0.1/8"): that is a typo, and guessing what was meant would widen the trust.
    """
    networks = []
    for part in (p.strip() for p in text.split(",")):
        if part:
            try:
                networks.append(ipaddress.ip_network(part))
            except ValueError:
                raise ValueError(f"{part!r} is not an IP network (e.g. 10.0.0.0/8)") from None
    return tuple(networks)
