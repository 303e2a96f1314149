"""The database a process runs on: the configured one, or an embedded PostgreSQL started for it;
migrated; with the root secret that goes with it. Opened and closed in one place."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from authsvc.adapters import embedded_postgres
from authsvc.adapters.database import Database
from authsvc.adapters.migrations import migrate
from authsvc.config import Settings


@contextlib.asynccontextmanager
async def database_for(settings: Settings) -> AsyncIterator[tuple[Database, bytes, str]]:
    """The migrated database, the signing secret and the DSN that reaches PostgreSQL itself (for
    LISTEN: AUTHSVC_DIRECT_DATABASE_URL, else the database's): configured, or embedded."""
    server: Any = None
    if settings.database_url is not None:
        dsn = settings.database_url
        direct = settings.direct_database_url or dsn
        assert settings.jwt_secret is not None  # Settings.from_env refuses a deployment without one
        secret = settings.jwt_secret
    else:
        server = await asyncio.to_thread(embedded_postgres.start, settings.data_dir)
        dsn = direct = embedded_postgres.dsn(server)
        secret = settings.jwt_secret or embedded_postgres.load_or_create_secret(settings.data_dir)
    pooled = settings.database_pooler == "transaction" and settings.database_url is not None
    database = await Database.connect(dsn, settings.db_pool_min, settings.db_pool_max, pooled=pooled)
    try:
        async with database.connection() as conn:
            await migrate(conn)
        yield database, secret, direct
    finally:
        await database.close()
        if server is not None:
            await asyncio.to_thread(server.cleanup)


@contextlib.asynccontextmanager
async def shared_database(settings: Settings) -> AsyncIterator[Settings]:
    """For a supervisor of workers: the settings that reach its database. Configured: as given.
    Embedded: the supervisor alone starts (and at the end stops) the embedded PostgreSQL, and the
    settings name it by URL with its secret, so workers and the supervisor's own runtime connect
    to it as to any server and never start or stop it themselves."""
    if settings.database_url is not None:
        yield settings
        return
    server = await asyncio.to_thread(embedded_postgres.start, settings.data_dir)
    try:
        secret = settings.jwt_secret or embedded_postgres.load_or_create_secret(settings.data_dir)
        yield settings.model_copy(
            update={"database_url": embedded_postgres.dsn(server), "jwt_secret": secret}
        )
    finally:
        await asyncio.to_thread(server.cleanup)
