"""IP addresses and networks: trusted proxies, and the client network that per-client limits count."""

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


DEFAULT_IPV6_PREFIX = 64  # what one subscriber usually gets (RFC 6177): one client, many addresses


def client_network(client_ip: str, ipv6_prefix: int = DEFAULT_IPV6_PREFIX) -> str:
    """What per-client limits count by: an IPv4 address itself, an IPv6 address by its network of
    `ipv6_prefix` bits ("2001:db8:1:2::/64").

    Security: one IPv6 client holds a whole /64 (often more), so keyed by address it could make up
    a new limit for each attempt. Anything that is not an address (a Unix socket peer) is its own key.
    """
    address = parse_ip(client_ip)
    if address is None:
        return client_ip
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    return str(ipaddress.IPv6Network((address, ipv6_prefix), strict=False))
