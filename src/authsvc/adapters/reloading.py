"""A background reload: on demand (a notification, a reconnect) and every `interval` seconds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from authsvc.domain.errors import AuthError

log = logging.getLogger(__name__)


class Reloader:
    def __init__(self, name: str, reload: Callable[[], Awaitable[None]], interval: float) -> None:
        self._name = name
        self._reload = reload
        self._interval = interval
        self._wake = asyncio.Event()

    def soon(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Reloads when woken or every `interval` seconds, until cancelled; failures are retried."""
        while True:
            with contextlib.suppress(TimeoutError):
                # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation
                # that races with the wake-up, and a loop that ignores cancel hangs shutdown.
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._reload()
            except AuthError:
                log.warning("could not reload %s; will try again", self._name)
            except Exception:  # never let the loop die: a dead reloader would go unnoticed
                log.exception("reloading %s failed; will try again", self._name)
