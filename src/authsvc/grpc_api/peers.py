"""The client IP of a call: the gRPC peer, or what a proxy that proves itself says it is.

Security: a source address proves little (every process on the host is 127.0.0.1, pods share
ranges), so `x-forwarded-for` is believed only from a caller that also presents a proxy token
AuthService was configured with (`x-authsvc-proxy-token` metadata), and, when trusted networks
are configured, only from those. With no token configured, nobody's say-so is believed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from typing import Any

from authsvc.call_metadata import FORWARDED_FOR, FORWARDED_USER_AGENT, MAX_USER_AGENT, PROXY_TOKEN, USER_AGENT
from authsvc.domain.networks import Network, parse_ip


class TrustedProxies:
    """Who may name the client IP: holders of one of `tokens`, calling from `networks` (None: from
    any address)."""

    def __init__(self, tokens: Sequence[str] = (), networks: Sequence[Network] | None = None) -> None:
        # Digests, compared in constant time: the tokens themselves are not kept.
        self._digests = tuple(hashlib.sha256(token.encode()).digest() for token in tokens)
        self._networks = None if networks is None else tuple(networks)

    def vouch(self, peer: str, token: str | None) -> bool:
        if token is None or not self._digests:
            return False
        presented = hashlib.sha256(token.encode("utf-8", "replace")).digest()
        if not any([hmac.compare_digest(presented, digest) for digest in self._digests]):
            return False
        if self._networks is None:
            return True
        address = parse_ip(peer_ip(peer))
        return address is not None and any(address in network for network in self._networks)


NOBODY = TrustedProxies()


def peer_ip(peer: str) -> str:
    """ "ipv4:127.0.0.1:5000" → "127.0.0.1"; "ipv6:[::1]:5000" → "::1"; anything else as given."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rsplit(":", 1)[0]
    if kind == "ipv6":
        return rest.rsplit(":", 1)[0].strip("[]")
    return peer


def client_ip(peer: str, metadata: Sequence[tuple[str, Any]] | None, proxies: TrustedProxies) -> str:
    """The peer's IP, unless the caller is a trusted proxy that names a valid client IP."""
    address = parse_ip(peer_ip(peer))
    direct = peer_ip(peer) if address is None else str(address)
    forwarded = token = None
    for key, value in metadata or ():
        if key == FORWARDED_FOR and isinstance(value, str):
            forwarded = value
        elif key == PROXY_TOKEN and isinstance(value, str):
            token = value
    if forwarded is None or not proxies.vouch(peer, token):
        return direct
    candidate = parse_ip(forwarded.split(",")[-1])
    return str(candidate) if candidate is not None else direct


def user_agent(peer: str, metadata: Sequence[tuple[str, Any]] | None, proxies: TrustedProxies) -> str | None:
    """The client's user agent, as a trusted proxy names it (`x-forwarded-user-agent`), else the
    caller's own `user-agent`; printable characters only, at most MAX_USER_AGENT of them."""
    own = forwarded = token = None
    for key, value in metadata or ():
        if not isinstance(value, str):
            continue
        if key == FORWARDED_USER_AGENT:
            forwarded = value
        elif key == USER_AGENT:
            own = value
        elif key == PROXY_TOKEN:
            token = value
    chosen = forwarded if forwarded is not None and proxies.vouch(peer, token) else own
    if chosen is None:
        return None
    printable = "".join(c for c in chosen[: 4 * MAX_USER_AGENT] if c.isprintable()).strip()
    return printable[:MAX_USER_AGENT] or None
