"""The client IP of a call: the gRPC peer, or what a trusted proxy (the REST facade) says it is."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any

from authsvc.domain.networks import Network

FORWARDED_FOR = "x-forwarded-for"


def peer_ip(peer: str) -> str:
    """ "ipv4:127.0.0.1:5000" → "127.0.0.1"; "ipv6:[::1]:5000" → "::1"; anything else as given."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    if kind == "ipv6":
        return rest.rsplit(":", 1)[0].strip("[]")
    return peer


def _is_in(ip: str, networks: Iterable[Network]) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address in network for network in networks)


def client_ip(peer: str, metadata: Sequence[tuple[str, Any]] | None, trusted: Sequence[Network]) -> str:
    """The peer's IP, unless the peer is a trusted proxy that names a valid client IP."""
    direct = peer_ip(peer)
    if not _is_in(direct, trusted):
        return direct
    for key, value in metadata or ():
        if key == FORWARDED_FOR and isinstance(value, str):
            candidate = value.split(",")[-1].strip()
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                return direct
    return direct
