"""The client IP of a call: the gRPC peer, or what a trusted proxy (the REST facade) says it is."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from authsvc.domain.networks import Network, parse_ip

FORWARDED_FOR = "x-forwarded-for"


def peer_ip(peer: str) -> str:
    """ "ipv4:127.0.0.1:5000" → "127.0.0.1"; "ipv6:[::1]:5000" → "::1"; anything else as given."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    if kind == "ipv6":
        return rest.rsplit(":", 1)[0].strip("[]")
    return peer


def client_ip(peer: str, metadata: Sequence[tuple[str, Any]] | None, trusted: Sequence[Network]) -> str:
    """The peer's IP, unless the peer is a trusted proxy that names a valid client IP."""
    address = parse_ip(peer_ip(peer))
    if address is None:
        return peer_ip(peer)
    direct = str(address)
    if not any(address in network for network in trusted):
        return direct
    for key, value in metadata or ():
        if key == FORWARDED_FOR and isinstance(value, str):
            candidate = parse_ip(value.split(",")[-1])
            return str(candidate) if candidate is not None else direct
    return direct
