"""The PostgreSQL the benchmark runs on, and the backend wake-ups that count database round trips.

AUTHSVC_BENCH_DATABASE_URL is used as it is. On the server of AUTHSVC_TEST_DATABASE_URL, a fresh
`authsvc_bench` database is made for each run (and dropped after), so 10,000 seeded sessions never
pile up in the test database and every run starts from the same state. Neither set: an embedded
PostgreSQL in a temporary folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from authsvc.adapters import embedded_postgres
from bench import procstats

BENCH_DATABASE = "authsvc_bench"


@dataclass(frozen=True)
class BenchDatabase:
    dsn: str
    source: str  # where it came from, for the report
    version: str


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextlib.asynccontextmanager
async def _fresh_sibling(url: str) -> AsyncIterator[str]:
    """A new, empty `authsvc_bench` database on the server of `url` (or `url` itself, if not allowed)."""
    admin: Any = await asyncpg.connect(url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {BENCH_DATABASE}")
    except asyncpg.InsufficientPrivilegeError:
        await admin.close()
        yield url
        return
    try:
        yield _with_database(url, BENCH_DATABASE)
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
        await admin.close()


@contextlib.asynccontextmanager
async def bench_database() -> AsyncIterator[BenchDatabase]:
    if url := os.environ.get("AUTHSVC_BENCH_DATABASE_URL"):
        yield BenchDatabase(url, "AUTHSVC_BENCH_DATABASE_URL", await server_version(url))
    elif url := os.environ.get("AUTHSVC_TEST_DATABASE_URL"):
        async with _fresh_sibling(url) as dsn:
            source = f"AUTHSVC_TEST_DATABASE_URL's server, database {urlsplit(dsn).path.lstrip('/')}"
            yield BenchDatabase(dsn, source, await server_version(dsn))
    else:
        # A short path: PostgreSQL's unix socket path must stay under ~100 characters.
        with tempfile.TemporaryDirectory(prefix="authsvc-bench-pg-") as folder:
            server = await asyncio.to_thread(embedded_postgres.start, Path(folder))
            try:
                dsn = embedded_postgres.dsn(server)
                yield BenchDatabase(dsn, "embedded (pgserver, temporary)", await server_version(dsn))
            finally:
                await asyncio.to_thread(server.cleanup)


async def server_version(dsn: str) -> str:
    conn: Any = await asyncpg.connect(dsn)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


async def backend_wakeups(dsn: str) -> dict[int, int] | None:
    """How often each other client backend of this database has been scheduled to run, by pid.

    A backend sleeps until a client message arrives, so each round trip wakes it once: the
    deltas count round trips (plus the odd preemption), read from /proc since pg_stat_database
    publishes a busy backend's counters only seconds later. None if PostgreSQL runs elsewhere.
    """
    conn: Any = await asyncpg.connect(dsn)
    try:
        pids = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    counts = {row["pid"]: procstats.times_scheduled(row["pid"]) for row in pids}
    known = {pid: n for pid, n in counts.items() if n is not None}
    return known if known or not counts else None
