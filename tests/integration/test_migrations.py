"""Migrations apply once, in order, even when replicas start together."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

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


async def test_memberships_are_made_from_the_previous_schema_and_kept_in_step_with_its_writes(
    database: Database, database_url: str
) -> None:
    """Migration 0021 on a database the previous release filled: each user becomes a member of
    their workspace with their role, each session is scoped to it; afterwards, what a replica of
    the previous release writes (users, role changes, sessions) keeps memberships in step, and it
    cannot refresh a session scoped to another workspace than the user's home one."""
    name = f"authsvc_mig_{uuid.uuid4().hex[:10]}"
    await database.execute(f'CREATE DATABASE "{name}"')
    try:
        conn = await asyncpg.connect(with_database(database_url, name))
        try:
            await migrate(conn, until="0020_mail_outbox")
            acme, other = uuid.uuid4(), uuid.uuid4()
            await conn.executemany(
                "INSERT INTO workspaces (id, name) VALUES ($1, $2)", [(acme, "acme"), (other, "other")]
            )
            admin, viewer = uuid.uuid4(), uuid.uuid4()
            insert_user = (
                "INSERT INTO users (id, workspace_id, email, password_hash, role) "
                "VALUES ($1, $2, $3, 'x', $4)"
            )
            await conn.execute(insert_user, admin, acme, "admin@example.com", "admin")
            await conn.execute(insert_user, viewer, other, "viewer@example.com", "viewer")
            insert_session = (
                "INSERT INTO sessions (id, user_id, created_at, expires_at, access_expires_at) "
                "VALUES ($1, $2, now(), now() + interval '1 day', now() + interval '1 hour')"
            )
            session = uuid.uuid4()
            await conn.execute(
                insert_session,
                session,
                admin,
            )

            await migrate(conn)
            members = await conn.fetch("SELECT user_id, workspace_id, role FROM memberships ORDER BY role")
            assert [(r["user_id"], r["workspace_id"], r["role"]) for r in members] == [
                (admin, acme, "admin"),
                (viewer, other, "viewer"),
            ]
            assert await conn.fetchval("SELECT workspace_id FROM sessions WHERE id = $1", session) == acme

            # The previous release's writes, as it makes them.
            late = uuid.uuid4()
            await conn.execute(insert_user, late, acme, "late@example.com", "member")
            await conn.execute("UPDATE users SET role = 'admin' WHERE id = $1", viewer)
            old_session = uuid.uuid4()
            await conn.execute(
                insert_session,
                old_session,
                late,
            )
            roles = await conn.fetch("SELECT user_id, workspace_id, role FROM memberships")
            assert {(r["user_id"], r["workspace_id"], r["role"]) for r in roles} == {
                (admin, acme, "admin"),
                (viewer, other, "admin"),
                (late, acme, "member"),
            }
            assert await conn.fetchval("SELECT workspace_id FROM sessions WHERE id = $1", old_session) == acme
            insert_token = (
                "INSERT INTO refresh_tokens (jti, session_id, issued_at, expires_at) "
                "VALUES ($1, $2, now(), now() + interval '1 day')"
            )
            await conn.execute(insert_token, uuid.uuid4(), old_session)  # its home workspace: allowed

            # A session this release scoped to the user's second workspace.
            await conn.execute(
                "INSERT INTO memberships (user_id, workspace_id, role) VALUES ($1, $2, 'viewer')",
                admin,
                other,
            )
            elsewhere = uuid.uuid4()
            await conn.execute(
                "INSERT INTO sessions (id, user_id, workspace_id, created_at, expires_at, access_expires_at) "
                "VALUES ($1, $2, $3, now(), now() + interval '1 day', now())",
                elsewhere,
                admin,
                other,
            )
            with pytest.raises(asyncpg.RaiseError, match="scoped to another workspace"):
                await conn.execute(insert_token, uuid.uuid4(), elsewhere)  # the previous release's refresh
            await conn.execute(
                "INSERT INTO refresh_tokens (jti, session_id, issued_at, expires_at, scoped) "
                "VALUES ($1, $2, now(), now() + interval '1 day', true)",
                uuid.uuid4(),
                elsewhere,
            )  # this release's

            # Moving the home mirror (this release's removals) never makes a membership (0022).
            await conn.execute("UPDATE users SET workspace_id = $2 WHERE id = $1", late, other)
            made = "SELECT count(*) FROM memberships WHERE user_id = $1 AND workspace_id = $2"
            assert await conn.fetchval(made, late, other) == 0
        finally:
            await conn.close()
    finally:
        await database.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
