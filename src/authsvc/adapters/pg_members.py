"""A workspace's members in PostgreSQL. While each user belongs to one workspace, a member is a
user row (its role, its enabled state); `last_login_at` is the start of its latest session."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import asyncpg

from authsvc.adapters import invalidation_messages as messages
from authsvc.adapters.database import Database, Executor
from authsvc.adapters.ids import parse_uuid
from authsvc.domain.pages import Cursor
from authsvc.domain.permissions import Role
from authsvc.service.ports import MemberRecord

_COLUMNS = """
    u.id, u.email, u.role, u.disabled_at IS NOT NULL AS disabled, u.created_at,
    (SELECT max(s.created_at) FROM sessions s WHERE s.user_id = u.id) AS last_login_at
"""


def _member(row: asyncpg.Record) -> MemberRecord:
    return MemberRecord(
        user_id=str(row["id"]),
        email=row["email"],
        role=Role(row["role"]),
        disabled=row["disabled"],
        joined_at=row["created_at"],
        last_login_at=row["last_login_at"],
    )


class PgMemberRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def of_workspace(self, workspace_id: str, after: Cursor | None, limit: int) -> list[MemberRecord]:
        wid = parse_uuid(workspace_id)
        start = (after.created_at, parse_uuid(after.id)) if after is not None else (None, None)
        if wid is None or (after is not None and start[1] is None):
            return []
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM users u WHERE u.workspace_id = $1 "
            "AND ($2::timestamptz IS NULL OR (u.created_at, u.id) > ($2, $3::uuid)) "
            "ORDER BY u.created_at, u.id LIMIT $4",
            wid,
            *start,
            limit,
        )
        return [_member(r) for r in rows]


class PgMemberStore:
    def __init__(self, conn: Executor, announce: Callable[[str], None]) -> None:
        self._conn = conn
        self._announce = announce

    async def lock_admins(self, workspace_id: str) -> set[str]:
        rows = await self._conn.fetch(
            "SELECT id FROM users WHERE workspace_id = $1 AND role = 'admin' AND disabled_at IS NULL "
            "ORDER BY id FOR UPDATE",
            uuid.UUID(workspace_id),
        )
        return {str(r["id"]) for r in rows}

    async def get(self, workspace_id: str, user_id: str) -> MemberRecord | None:
        uid, wid = parse_uuid(user_id), parse_uuid(workspace_id)
        if uid is None or wid is None:
            return None
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM users u WHERE u.id = $1 AND u.workspace_id = $2 FOR UPDATE OF u",
            uid,
            wid,
        )
        return _member(row) if row else None

    async def set_role(self, user_id: str, role: Role) -> None:
        await self._conn.execute("UPDATE users SET role = $2 WHERE id = $1", uuid.UUID(user_id), role.value)

    async def narrow_keys_of(self, user_id: str, allowed: frozenset[str]) -> list[str]:
        rows = await self._conn.fetch(
            "UPDATE api_keys SET permissions = ARRAY(SELECT p FROM unnest(permissions) AS p "
            "WHERE p = ANY($2::text[]) ORDER BY p) "
            "WHERE created_by = $1 AND revoked_at IS NULL "
            "AND NOT permissions <@ $2::text[] RETURNING id",
            uuid.UUID(user_id),
            sorted(allowed),
        )
        ids = [str(row["id"]) for row in rows]
        for key_id in ids:
            self._announce(messages.key_changed(key_id))
        return ids
