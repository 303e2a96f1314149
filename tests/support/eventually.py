"""Waiting, briefly, for what another replica learns by notice: it hears a change a few
milliseconds after the replica that made it (docs/security.md), never a second."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

NOTICE_SECONDS = 1.0


async def eventually(check: Callable[[], Awaitable[bool]], within: float = NOTICE_SECONDS) -> None:
    """Returns once `check` holds; fails if it does not within `within` seconds."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"did not hold within {within} s"
        await asyncio.sleep(0.01)
