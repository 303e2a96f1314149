"""A bounded memo of access tokens whose signature and claims were already verified.

A token's claims never change, so once its signature and claims have been checked, the next
presentation of the same string only needs its expiry checked again (and the session behind it,
which the caller does on every call). The principal the claims stand for is kept with them: the
same object each time, so replies encoded for it can be found by it cheaply. Entries leave when
their token expires, when their signing key retires or the key set is reloaded, when the memo is
full, or when nobody presented the token for a minute or two.
"""

from __future__ import annotations

from typing import Generic, NamedTuple, TypeVar

from authsvc.domain.errors import AuthError, ErrorCode
from authsvc.domain.tokens import AccessClaims

# What a verified token stands for: AuthService's Principal, or the SDK's (local verification).
P = TypeVar("P")
IDLE_SECONDS = 60  # a token not presented for one to two of these is verified again if it comes back


class Verified(NamedTuple, Generic[P]):
    claims: AccessClaims
    principal: P


class VerifiedTokens(Generic[P]):
    """Entries in two generations, each `idle_seconds` long: a token presented again is kept (or
    brought back) in the current one, and a generation is dropped whole when it is two old. So a
    token nobody presented for between one and two idle periods is forgotten (a refresh replaces
    its access token: without this, every token ever refreshed would stay until the memo filled,
    about 1.6 KB each), at the cost of one comparison per lookup."""

    def __init__(self, max_entries: int, leeway: int, idle_seconds: int = IDLE_SECONDS) -> None:
        self._entries: dict[str, Verified[P]] = {}
        self._previous: dict[str, Verified[P]] = {}
        self._max = max_entries
        self._leeway = leeway
        self._idle = idle_seconds
        self._turns_at: int | None = None  # when the current generation becomes the previous one

    def get(self, token: str, now: int) -> Verified[P] | None:
        """A verified token's claims and principal; TOKEN_EXPIRED once it has expired (and forgets it)."""
        if self._turns_at is None or now >= self._turns_at:
            self._turn(now)
        entry = self._entries.get(token)
        if entry is None:
            entry = self._previous.pop(token, None)
            if entry is None:
                return None
            self._entries[token] = entry  # in use again: kept another generation
        claims = entry.claims
        if now > claims.expires_at + self._leeway:
            del self._entries[token]
            raise AuthError(ErrorCode.TOKEN_EXPIRED)
        if claims.key_retires_at is not None and now >= claims.key_retires_at:
            del self._entries[token]  # its key has retired: verify from scratch (and fail)
            return None
        return entry

    def _turn(self, now: int) -> None:
        if self._turns_at is not None:  # (the first call only starts the clock)
            idle_throughout = now >= self._turns_at + self._idle
            self._previous = {} if idle_throughout else self._entries
            self._entries = {}
        self._turns_at = now + self._idle

    def __len__(self) -> int:
        return len(self._entries) + len(self._previous)

    def clear(self) -> None:
        """Forget everything: the signing keys changed."""
        self._entries.clear()
        self._previous.clear()

    def put(self, token: str, entry: Verified[P]) -> None:
        if self._max <= 0:
            return
        if len(self._entries) + len(self._previous) >= self._max:
            if self._previous:  # the least recently used first, as a whole
                self._previous = {}
            else:  # drop the oldest tenth: cheap, and a dropped token is simply verified again
                for old in list(self._entries)[: max(1, self._max // 10)]:
                    del self._entries[old]
        self._entries[token] = entry
