"""bcrypt password hashing, run in worker threads so the event loop never waits on it.

The workers are as many as the cores (more would only queue) and run at a lower CPU priority
(nice 10): bcrypt soaks up idle CPU, but the event loop, which answers ValidateToken, is
scheduled first whenever it has work.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

import bcrypt

from authsvc.domain.validation import password_fits_bcrypt

MIN_COST = 10
_NICER = 10


def _lower_priority() -> None:
    with contextlib.suppress(OSError, AttributeError):  # Linux sets it per thread; elsewhere, skip
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), _NICER)


class BcryptHasher:
    def __init__(self, cost: int = 12) -> None:
        if cost < MIN_COST:
            raise ValueError(f"bcrypt cost must be at least {MIN_COST}")
        self._cost = cost
        self._workers = ThreadPoolExecutor(
            max_workers=os.cpu_count() or 2, thread_name_prefix="bcrypt", initializer=_lower_priority
        )
        # Compared against when there is no real hash (unknown email, unusable password), so
        # that such a login costs exactly as much as a wrong password for a real account.
        self._dummy_hash = bcrypt.hashpw(secrets.token_bytes(16).hex().encode(), bcrypt.gensalt(cost))

    async def hash(self, password: str) -> str:
        encoded = password.encode("utf-8")
        salt = bcrypt.gensalt(self._cost)
        hashed = await asyncio.get_running_loop().run_in_executor(self._workers, bcrypt.hashpw, encoded, salt)
        return hashed.decode("ascii")

    async def verify(self, password: str, hashed: str | None) -> bool:
        """Constant-work check. Passwords bcrypt cannot take (empty, over 72 bytes, unencodable)
        never match, but still spend one full hash, and never raise."""
        usable = password_fits_bcrypt(password) and hashed is not None
        candidate = password.encode("utf-8") if usable else b"\x00never-matches"
        target = hashed.encode("ascii") if usable and hashed is not None else self._dummy_hash
        try:
            matched = await asyncio.get_running_loop().run_in_executor(
                self._workers, bcrypt.checkpw, candidate, target
            )
        except ValueError:
            return False
        return matched and usable
