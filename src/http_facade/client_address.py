"""Who the client of a request is: the socket peer, or what trusted proxies in front say it is."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from authsvc.domain.networks import Network, parse_ip


def client_address(peer: str | None, forwarded_for: Iterable[str], trusted: Sequence[Network]) -> str:
    """The socket peer, or, when the peer is a trusted proxy, the right-most untrusted address of
    X-Forwarded-For.

    Security: each hop can only vouch for the one before it, so the chain is read from the right
    and believed only while the hop that wrote it is trusted. Anything left of an untrusted hop may
    be forged by the client; an unparsable entry stops the walk at the last trusted hop.
    """
    current = parse_ip(peer or "")
    if current is None:
        return ""
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    while hops and any(current in network for network in trusted):
        previous = parse_ip(hops.pop())
        if previous is None:
            break
        current = previous
    return str(current)
