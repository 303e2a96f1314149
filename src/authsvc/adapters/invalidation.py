"""Cross-replica invalidation: PostgreSQL LISTEN/NOTIFY feeding each replica's validation cache.

A revocation committed by any replica notifies `authsvc_invalidation`; every replica's listener
evicts the entry at once. If the listening connection drops (or stops answering its 1 s ping), the
replica clears its cache and validates against the database until it listens again, so a lost
notification can never leave a revoked credential valid.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from typing import Any

import asyncpg

log = logging.getLogger(__name__)
CHANNEL = "authsvc_invalidation"
# A replica's own markers, to learn it has heard everything committed before it sent one (PostgreSQL
# delivers a listener's notifications in commit order, whatever their channel). Apart from CHANNEL:
# replicas of earlier releases read every message there, and would take a marker for news.
BARRIER_CHANNEL = "authsvc_barrier"
LISTENER_APP_NAME = f"authsvc-listener:{os.getpid()}"


async def notify(conn: asyncpg.Connection, message: str) -> None:
    """Queues a notification; PostgreSQL delivers it when (and only if) the transaction commits."""
    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, message)


class InvalidationListener:
    def __init__(
        self,
        dsn: str,
        on_message: Callable[[str], None],
        on_reset: Callable[[bool], None],
        ping_interval: float = 1.0,
        on_barrier: Callable[[str], None] | None = None,
    ) -> None:
        self._dsn = dsn
        self._on_message = on_message
        self._on_barrier = on_barrier
        self._on_reset = on_reset  # called with True once listening, False once deaf
        self._ping_interval = ping_interval
        self.listening = asyncio.Event()

    def _deliver(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self._on_message(payload)

    def _deliver_barrier(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if self._on_barrier is not None:
            self._on_barrier(payload)

    async def run(self) -> None:
        """Listens until cancelled, reconnecting with backoff."""
        backoff = 0.1
        while True:
            try:
                await self._listen_once()
                backoff = 0.1
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                log.warning(
                    "invalidation listener down (%s): validating against the database", type(error).__name__
                )
            await asyncio.sleep(backoff)
            # At most a second between attempts: a replica hears the others again within about
            # a second of PostgreSQL coming back (one failed connect a second while it is away).
            backoff = min(backoff * 2, 1.0)

    async def _listen_once(self) -> None:
        """One connection's life: returns or raises when it is lost, with the cache already off."""
        conn = await asyncpg.connect(
            self._dsn, timeout=5, server_settings={"application_name": LISTENER_APP_NAME}
        )
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(CHANNEL, self._deliver)
            await conn.add_listener(BARRIER_CHANNEL, self._deliver_barrier)
            self._on_reset(True)  # whatever was missed while deaf is out of the cache by now
            self.listening.set()
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._ping_interval):
                        await lost.wait()
                if not lost.is_set():
                    async with asyncio.timeout(self._ping_interval):
                        await conn.fetchval("SELECT 1")
            log.warning("invalidation listener connection closed")
        finally:
            self.listening.clear()
            self._on_reset(False)
            if not conn.is_closed():
                conn.terminate()
