"""The asyncpg pool and the one place where driver failures become AuthError(UNAVAILABLE)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import asyncpg

from authsvc.domain.errors import AuthError, ErrorCode

log = logging.getLogger(__name__)

# Failures that mean "the database cannot be reached or is going away", by type, never by text.
# (Server-side refusals, e.g. CannotConnectNowError, come with a SQLSTATE: see below.)
# InternalClientError: a pooled connection that PostgreSQL dropped as it shut down, still reading
# the server's farewell error when a call took it ("cannot switch to state 15; another operation
# (2) is in progress"); seen about once in ten restarts under load (test_restart_under_load).
_UNAVAILABLE = (OSError, asyncio.TimeoutError, asyncpg.InterfaceError, asyncpg.InternalClientError)


# SQLSTATE classes that mean the database cannot serve us now, whatever the statement: connection
# (08), credentials (28), no such database (3D), out of resources (53), shutting down or statement
# cancelled (57); and 25006, a read-only transaction: a failover made this server a replica.
_UNAVAILABLE_CLASSES = frozenset({"08", "28", "3D", "53", "57"})
_READ_ONLY = "25006"


@asynccontextmanager
async def unavailable_on_failure() -> AsyncIterator[None]:
    try:
        yield
    except _UNAVAILABLE as exc:
        log.warning("database unavailable: %s", type(exc).__name__)
        raise AuthError(ErrorCode.UNAVAILABLE) from None
    except asyncpg.PostgresError as exc:
        state = getattr(exc, "sqlstate", "") or ""
        if state[:2] in _UNAVAILABLE_CLASSES or state == _READ_ONLY:
            log.warning("database unavailable: %s (%s)", type(exc).__name__, state)
            raise AuthError(ErrorCode.UNAVAILABLE) from None
        raise


COMMAND_TIMEOUT = 10.0  # no statement waits longer, whatever the caller's deadline


async def _rollback_if_needed(conn: asyncpg.Connection) -> None:
    """Replaces asyncpg's default reset on release (a query each time: RESET ALL, UNLISTEN *...):
    our pooled connections change no session state, so only an open transaction needs ending."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


class Executor(Protocol):
    """What repositories run statements on: the pool (`Database`, each statement on its own), or
    one connection inside a unit of work's transaction (asyncpg's Connection has the same calls)."""

    async def fetchrow(self, query: str, *args: Any) -> Any: ...

    async def fetch(self, query: str, *args: Any) -> Any: ...

    async def fetchval(self, query: str, *args: Any) -> Any: ...

    async def execute(self, query: str, *args: Any) -> Any: ...


class Database:
    """Owns the pool; every repository goes through `connection()` or `transaction()`.

    `pooled`: PostgreSQL is behind a transaction pooler (PgBouncer pool_mode=transaction), which
    hands each transaction to any server connection. Named prepared statements would then meet
    a server that never saw them (or one that already has them), and asyncpg prepares an unnamed
    statement in one round trip and runs it in the next, which the pooler may send elsewhere. So
    no statement cache (unnamed statements only), and every statement runs inside a transaction,
    which pins both round trips to one server connection.
    """

    def __init__(self, pool: asyncpg.Pool, acquire_timeout: float = 5.0, pooled: bool = False) -> None:
        self.pool = pool
        self._acquire_timeout = acquire_timeout
        self.pooled = pooled

    @classmethod
    async def connect(cls, dsn: str, min_size: int = 1, max_size: int = 10, pooled: bool = False) -> Database:
        async with unavailable_on_failure():
            pool = await asyncpg.create_pool(
                dsn,
                min_size=min_size,
                max_size=max_size,
                timeout=10,
                command_timeout=COMMAND_TIMEOUT,
                reset=_rollback_if_needed,
                statement_cache_size=0 if pooled else 100,
            )
        return cls(pool, pooled=pooled)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        async with unavailable_on_failure(), self.pool.acquire(timeout=self._acquire_timeout) as conn:
            yield conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.connection() as conn, conn.transaction():
            yield conn

    def _statement(self) -> Any:
        """Where one statement runs: any connection, or, behind a pooler, a transaction."""
        return self.transaction() if self.pooled else self.connection()

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        async with self._statement() as conn:
            return await conn.fetchrow(query, *args)

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async with self._statement() as conn:
            rows: list[asyncpg.Record] = await conn.fetch(query, *args)
            return rows

    async def fetchval(self, query: str, *args: Any) -> Any:
        async with self._statement() as conn:
            return await conn.fetchval(query, *args)

    async def execute(self, query: str, *args: Any) -> str:
        async with self._statement() as conn:
            status: str = await conn.execute(query, *args)
            return status

    async def ping(self) -> None:
        """One round trip: the health probe."""
        await self.fetchval("SELECT 1")

    async def close(self, within: float = 5.0) -> None:
        try:
            async with asyncio.timeout(within):
                await self.pool.close()
        except TimeoutError:
            self.pool.terminate()
