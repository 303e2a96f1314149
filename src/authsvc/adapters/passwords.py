"""bcrypt password hashing, run in worker threads so the event loop never waits on it."""

from __future__ import annotations

import asyncio
import secrets

import bcrypt

from authsvc.domain.validation import password_fits_bcrypt

MIN_COST = 10


class BcryptHasher:
    def __init__(self, cost: int = 12) -> None:
        if cost < MIN_COST:
            raise ValueError(f"bcrypt cost must be at least {MIN_COST}")
        self._cost = cost
        # Compared against when there is no real hash (unknown email, unusable password), so
        # that such a login costs exactly as much as a wrong password for a real account.
        self._dummy_hash = bcrypt.hashpw(secrets.token_bytes(16).hex().encode(), bcrypt.gensalt(cost))

    async def hash(self, password: str) -> str:
        encoded = password.encode("utf-8")
        salt = bcrypt.gensalt(self._cost)
        hashed = await asyncio.to_thread(bcrypt.hashpw, encoded, salt)
        return hashed.decode("ascii")

    async def verify(self, password: str, hashed: str | None) -> bool:
        """Constant-work check. Passwords bcrypt cannot take (empty, over 72 bytes, unencodable)
        never match, but still spend one full hash, and never raise."""
        usable = password_fits_bcrypt(password) and hashed is not None
        candidate = password.encode("utf-8") if usable else b"\x00never-matches"
        target = hashed.encode("ascii") if usable and hashed is not None else self._dummy_hash
        try:
            matched = await asyncio.to_thread(bcrypt.checkpw, candidate, target)
        except ValueError:
            return False
        return matched and usable
