"""The public half of the signing keys, for services that verify access tokens offline."""

from __future__ import annotations

from typing import Protocol

from authsvc.service.ports import Clock


class KeySet(Protocol):
    def jwks(self, now: int) -> dict[str, list[dict[str, str]]]: ...


class PublicKeys:
    def __init__(self, keys: KeySet, clock: Clock) -> None:
        self._keys = keys
        self._clock = clock

    def jwks(self) -> list[dict[str, str]]:
        """Every asymmetric key that signs or still verifies; HS256 secrets are never published."""
        return self._keys.jwks(int(self._clock.now().timestamp()))["keys"]
