"""Migrations apply once, in order, even when replicas start together."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from authsvc.adapters.database import Database
from authsvc.adapters.migrations import available_versions, migrate
from tests.support.postgres import with_database


async def test_two_replicas_migrating_at_once_apply_each_migration_once(
    database: Database, database_url: str
) -> None:
    name = f"authsvc_mig_{uuid.uuid4().hex[:10]}"
    await database.execute(f'CREATE DATABASE "{name}"')
    try:
        url = with_database(database_url, name)
        first, second = await asyncpg.connect(url), await asyncpg.connect(url)
        try:
            applied = await asyncio.gather(migrate(first), migrate(second))
            expected = available_versions()
            assert expected[:4] == [
                "0001_initial",
                "0002_rate_limits",
                "0003_audit_events",
                "0004_signing_keys",
            ]
            assert sorted(applied[0] + applied[1]) == expected
            assert await migrate(first) == []
            versions = await first.fetch("SELECT version FROM schema_migrations")
            assert sorted(r["version"] for r in versions) == expected
        finally:
            await first.close()
            await second.close()
    finally:
        await database.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
