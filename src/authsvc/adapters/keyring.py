"""The signing keys in force on this replica: which one signs, which ones still verify.

The set is replaced whole on reload, so a reader never sees half of an update.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from authsvc.adapters.signing_algorithms import HS256
from authsvc.domain.revocations import VerificationKey


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    algorithm: str
    signing_key: Any = field(repr=False)  # bytes for HS256, else a cryptography private key
    verifying_key: Any = field(repr=False)  # bytes for HS256, else a cryptography public key
    public_jwk: dict[str, str] | None  # published for asymmetric keys only
    active_from: int  # epoch seconds: signs from then on (when it is the newest)
    retire_after: int | None  # epoch seconds: verifies until then; None while current


def root_kid(secret: bytes) -> str:
    """A stable id for the configured root secret that reveals nothing about it."""
    return "hs-" + hashlib.sha256(b"authsvc kid\x00" + secret).hexdigest()[:16]


class KeyRing:
    def __init__(self, keys: Sequence[SigningKey]) -> None:
        self._keys: dict[str, SigningKey] = {}
        self._by_age: list[SigningKey] = []
        self._on_change: list[Callable[[], None]] = []
        self.replace(keys)

    def on_change(self, callback: Callable[[], None]) -> None:
        """Calls `callback` after every reload (e.g. to forget tokens verified under old keys)."""
        self._on_change.append(callback)

    @classmethod
    def root_only(cls, secret: bytes) -> KeyRing:
        """Just the configured secret, as the first key: for a start before the database is read."""
        return cls([SigningKey(root_kid(secret), HS256, secret, secret, None, 0, None)])

    def replace(self, keys: Sequence[SigningKey]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        # Oldest first; among keys active from the same second, the one not yet retiring is newest.
        by_age = sorted(keys, key=lambda k: (k.active_from, k.retire_after is None, k.kid))
        before = [(k.kid, k.active_from, k.retire_after) for k in self._by_age]
        self._keys, self._by_age = {k.kid: k for k in by_age}, by_age
        if before and before != [(k.kid, k.active_from, k.retire_after) for k in by_age]:
            for callback in self._on_change:
                callback()

    def signer(self, now: int) -> SigningKey:
        """The newest key already active at `now` (keys are published before they sign)."""
        for key in reversed(self._by_age):
            if key.active_from <= now and (key.retire_after is None or now < key.retire_after):
                return key
        # Nothing active yet at `now` (a clock behind the key's start): the newest unretired key.
        current = [k for k in self._by_age if k.retire_after is None or now < k.retire_after]
        return current[-1] if current else self._by_age[-1]

    def verifier(self, kid: object, now: int) -> SigningKey | None:
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None or (key.retire_after is not None and now >= key.retire_after):
            return None
        return key

    def jwks(self, now: int) -> dict[str, list[dict[str, str]]]:
        """The public keys of every asymmetric key that still verifies (RFC 7517)."""
        return {
            "keys": [
                k.public_jwk
                for k in self._by_age
                if k.public_jwk is not None and (k.retire_after is None or now < k.retire_after)
            ]
        }

    def verification_keys(self, now: int) -> tuple[VerificationKey, ...]:
        """The public keys that sign or still verify, with their validity: what a verifier
        needs (never an HS256 secret, which could sign)."""
        return tuple(
            VerificationKey(k.kid, k.algorithm, dict(k.public_jwk), k.active_from, k.retire_after)
            for k in self._by_age
            if k.public_jwk is not None and (k.retire_after is None or now < k.retire_after)
        )

    @property
    def kids(self) -> list[str]:
        return [k.kid for k in self._by_age]
