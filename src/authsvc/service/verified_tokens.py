"""A bounded memo of access tokens whose signature and claims were already verified.

A token's claims never change, so once its signature and claims have been checked, the next
presentation of the same string only needs its expiry checked again (and the session behind it,
which the caller does on every call). The principal the claims stand for is kept with them: the
same object each time, so replies encoded for it can be found by it cheaply. Entries leave when
their token expires, when their signing key retires or the key set is reloaded, or when the memo
is full.
"""

from __future__ import annotations

from typing import Generic, NamedTuple, TypeVar

from authsvc.domain.errors import AuthError, ErrorCode
from authsvc.domain.tokens import AccessClaims

# What a verified token stands for: AuthService's Principal, or the SDK's (local verification).
P = TypeVar("P")


class Verified(NamedTuple, Generic[P]):
    claims: AccessClaims
    principal: P


class VerifiedTokens(Generic[P]):
    def __init__(self, max_entries: int, leeway: int) -> None:
        self._entries: dict[str, Verified[P]] = {}
        self._max = max_entries
        self._leeway = leeway

    def get(self, token: str, now: int) -> Verified[P] | None:
        """A verified token's claims and principal; TOKEN_EXPIRED once it has expired (and forgets it)."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        claims = entry.claims
        if now > claims.expires_at + self._leeway:
            del self._entries[token]
            raise AuthError(ErrorCode.TOKEN_EXPIRED)
        if claims.key_retires_at is not None and now >= claims.key_retires_at:
            del self._entries[token]  # its key has retired: verify from scratch (and fail)
            return None
        return entry

    def clear(self) -> None:
        """Forget everything: the signing keys changed."""
        self._entries.clear()

    def put(self, token: str, entry: Verified[P]) -> None:
        if self._max <= 0:
            return
        if len(self._entries) >= self._max:
            # Drop the oldest tenth: cheap, and a dropped token is simply verified again.
            for old in list(self._entries)[: max(1, self._max // 10)]:
                del self._entries[old]
        self._entries[token] = entry
