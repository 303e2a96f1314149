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
    returns the versions applied."""
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_ID)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, sql in _migration_files():
            if until is not None and version > until:
                break
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                if version in _AFTER:
                    await _AFTER[version](conn)
                await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            log.info("applied migration %s", version)
            applied_now.append(version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_ID)
    return applied_now
