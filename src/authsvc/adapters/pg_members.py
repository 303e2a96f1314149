"""A workspace's members in PostgreSQL: its memberships (a role each) and their users (email,
enabled state). `joined_at` is when the membership began; `last_login_at` the start of the
member's latest session in the workspace.

`users.workspace_id` and `users.role` still mirror each user's home membership for replicas of
the previous release (migration 0021): every change here keeps them in step."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

import asyncpg

from authsvc.adapters import invalidation_messages as messages
from authsvc.adapters.database import Database, Executor
from authsvc.adapters.ids import parse_uuid
from authsvc.domain.pages import Cursor
from authsvc.domain.permissions import Role
from authsvc.service.ports import MemberRecord, Membership

_COLUMNS = """
    u.id, u.email, m.role, u.disabled_at IS NOT NULL AS disabled, m.created_at,
    (SELECT max(s.created_at) FROM sessions s
     WHERE s.user_id = u.id AND s.workspace_id = m.workspace_id) AS last_login_at
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
            f"SELECT {_COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id "
            "WHERE m.workspace_id = $1 "
            "AND ($2::timestamptz IS NULL OR (m.created_at, m.user_id) > ($2, $3::uuid)) "
            "ORDER BY m.created_at, m.user_id LIMIT $4",
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
            "SELECT m.user_id FROM memberships m JOIN users u ON u.id = m.user_id "
            "WHERE m.workspace_id = $1 AND m.role = 'admin' AND u.disabled_at IS NULL "
            "ORDER BY m.user_id FOR UPDATE OF m",
            uuid.UUID(workspace_id),
        )
        return {str(r["user_id"]) for r in rows}

    async def hold(self, user_id: str, workspace_id: str) -> Membership | None:
        uid, wid = parse_uuid(user_id), parse_uuid(workspace_id)
        if uid is None or wid is None:
            return None
        row = await self._conn.fetchrow(
            "SELECT m.role, w.access_token_ttl_seconds FROM memberships m "
            "JOIN workspaces w ON w.id = m.workspace_id "
            "WHERE m.user_id = $1 AND m.workspace_id = $2 FOR SHARE OF m",
            uid,
            wid,
        )
        return Membership(str(wid), Role(row["role"]), row["access_token_ttl_seconds"]) if row else None

    async def hold_all(self, user_id: str) -> set[str]:
        rows = await self._conn.fetch(
            "SELECT workspace_id FROM memberships WHERE user_id = $1 FOR SHARE", uuid.UUID(user_id)
        )
        return {str(r["workspace_id"]) for r in rows}

    async def get(self, workspace_id: str, user_id: str) -> MemberRecord | None:
        uid, wid = parse_uuid(user_id), parse_uuid(workspace_id)
        if uid is None or wid is None:
            return None
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM memberships m JOIN users u ON u.id = m.user_id "
            "WHERE m.user_id = $1 AND m.workspace_id = $2 FOR UPDATE OF m",
            uid,
            wid,
        )
        return _member(row) if row else None

    async def set_role(self, user_id: str, workspace_id: str, role: Role) -> None:
        uid, wid = uuid.UUID(user_id), uuid.UUID(workspace_id)
        await self._conn.execute(
            "UPDATE memberships SET role = $3 WHERE user_id = $1 AND workspace_id = $2", uid, wid, role.value
        )
        await self._conn.execute(  # the home membership's mirror
            "UPDATE users SET role = $3 WHERE id = $1 AND workspace_id = $2 AND role <> $3",
            uid,
            wid,
            role.value,
        )

    async def narrow_keys_of(self, user_id: str, workspace_id: str, allowed: frozenset[str]) -> list[str]:
        rows = await self._conn.fetch(
            "UPDATE api_keys SET permissions = ARRAY(SELECT p FROM unnest(permissions) AS p "
            "WHERE p = ANY($3::text[]) ORDER BY p) "
            "WHERE created_by = $1 AND workspace_id = $2 AND revoked_at IS NULL "
            "AND NOT permissions <@ $3::text[] RETURNING id",
            uuid.UUID(user_id),
            uuid.UUID(workspace_id),
            sorted(allowed),
        )
        ids = [str(row["id"]) for row in rows]
        for key_id in ids:
            self._announce(messages.key_changed(key_id))
        return ids

    async def remove(self, user_id: str, workspace_id: str, now: datetime) -> None:
        uid, wid = uuid.UUID(user_id), uuid.UUID(workspace_id)
        # Two removals of one user run one after the other: each sees what the other left.
        home = await self._conn.fetchval("SELECT workspace_id FROM users WHERE id = $1 FOR UPDATE", uid)
        await self._conn.execute("DELETE FROM memberships WHERE user_id = $1 AND workspace_id = $2", uid, wid)
        if home == wid:  # the home mirror moves to the oldest membership left, or to none
            left = await self._conn.fetchrow(
                "SELECT workspace_id, role FROM memberships WHERE user_id = $1 "
                "ORDER BY created_at, workspace_id LIMIT 1",
                uid,
            )
            await self._conn.execute(
                "UPDATE users SET workspace_id = $2, role = coalesce($3, role) WHERE id = $1",
                uid,
                left["workspace_id"] if left else None,
                left["role"] if left else None,
            )
        await self._conn.execute(
            "UPDATE users SET last_workspace_id = NULL WHERE id = $1 AND last_workspace_id = $2", uid, wid
        )
        keys = await self._conn.fetch(
            "UPDATE api_keys SET revoked_at = $3 WHERE created_by = $1 AND workspace_id = $2 "
            "AND revoked_at IS NULL RETURNING id",
            uid,
            wid,
            now,
        )
        for key in keys:
            self._announce(messages.key_revoked(key["id"]))
