"""Plain SQL migrations, applied in order, recorded, and serialised across replicas.

A migration that must look at rows with the service's own rules (emails in normal form) has a
Python step, run after its SQL in the same transaction (`_AFTER`)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from importlib import resources

import asyncpg

from authsvc.adapters.email_normal_form import normalise_stored_emails

log = logging.getLogger(__name__)
# Any fixed 64-bit number: replicas starting together queue on it instead of racing.
_LOCK_ID = 0x6175_7468_7376_63
_AFTER: dict[str, Callable[[asyncpg.Connection], Awaitable[object]]] = {
    "0009_email_normal_form": normalise_stored_emails,
}


def _migration_files() -> list[tuple[str, str]]:
    folder = resources.files("authsvc.adapters").joinpath("migrations")
    files = sorted(f.name for f in folder.iterdir() if f.name.endswith(".sql"))
    return [(name.removesuffix(".sql"), folder.joinpath(name).read_text("utf-8")) for name in files]


def available_versions() -> list[str]:
    return [version for version, _ in _migration_files()]


async def migrate(conn: asyncpg.Connection, until: str | None = None) -> list[str]:
    """Applies pending migrations (up to `until`, inclusive, when given), one transaction each;
    returns the versions applied.

    Each transaction takes a transaction-level advisory lock first, so replicas starting together
    queue instead of racing, and a transaction pooler (which may run each transaction on another
    server connection) cannot separate a lock from its unlock."""
    applied_now: list[str] = []
    for version, sql in _migration_files():
        if until is not None and version > until:
            break
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_ID)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            if await conn.fetchval("SELECT 1 FROM schema_migrations WHERE version = $1", version):
                continue
            await conn.execute(sql)
            if version in _AFTER:
                await _AFTER[version](conn)
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
        log.info("applied migration %s", version)
        applied_now.append(version)
    return applied_now
