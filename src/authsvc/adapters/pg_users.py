"""Users and workspaces in PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import asyncpg

from authsvc.adapters import invalidation_messages as messages
from authsvc.adapters.database import Database, Executor
from authsvc.adapters.ids import parse_uuid
from authsvc.domain.errors import AuthError, ErrorCode
from authsvc.domain.permissions import Role
from authsvc.service.ports import Membership, UserRecord, Workspace, WorkspaceMembership

# The user, and one membership: of the workspace asked for ($2) if given, else of the one last
# used, else the oldest.
_USER_WITH_MEMBERSHIP = """
SELECT u.id, u.email, u.password_hash, u.disabled_at IS NOT NULL AS disabled,
       m.workspace_id, m.role, w.access_token_ttl_seconds,
       (SELECT count(*) FROM memberships a WHERE a.user_id = u.id) AS workspaces
FROM users u
LEFT JOIN LATERAL (
    SELECT workspace_id, role, created_at FROM memberships m
    WHERE m.user_id = u.id AND ($2::uuid IS NULL OR m.workspace_id = $2)
    ORDER BY m.workspace_id IS NOT DISTINCT FROM u.last_workspace_id DESC, m.created_at, m.workspace_id
    LIMIT 1
) m ON true
LEFT JOIN workspaces w ON w.id = m.workspace_id
"""
_NO_SUCH_WORKSPACE = uuid.UUID(int=0)  # asked for by an id that is no uuid: no membership matches


def _user(row: asyncpg.Record) -> UserRecord:
    membership = None
    if row["workspace_id"] is not None:
        membership = Membership(str(row["workspace_id"]), Role(row["role"]), row["access_token_ttl_seconds"])
    return UserRecord(
        id=str(row["id"]),
        email=row["email"],
        password_hash=row["password_hash"],
        disabled=row["disabled"],
        membership=membership,
        workspaces=row["workspaces"],
    )


def _workspace(row: asyncpg.Record) -> Workspace:
    return Workspace(str(row["id"]), row["name"], row["access_token_ttl_seconds"])


def _asked(workspace_id: str | None) -> uuid.UUID | None:
    if workspace_id is None:
        return None
    return parse_uuid(workspace_id) or _NO_SUCH_WORKSPACE


class PgUserRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def by_email(self, email: str, workspace_id: str | None = None) -> UserRecord | None:
        row = await self._db.fetchrow(
            f"{_USER_WITH_MEMBERSHIP} WHERE u.email = $1",  # stored in normal form, as `email` is given
            email,
            _asked(workspace_id),
        )
        return _user(row) if row else None

    async def by_id(self, user_id: str, workspace_id: str | None = None) -> UserRecord | None:
        uid = parse_uuid(user_id)
        if uid is None:
            return None
        row = await self._db.fetchrow(f"{_USER_WITH_MEMBERSHIP} WHERE u.id = $1", uid, _asked(workspace_id))
        return _user(row) if row else None

    async def workspaces_of(self, user_id: str) -> list[WorkspaceMembership]:
        uid = parse_uuid(user_id)
        if uid is None:
            return []
        rows = await self._db.fetch(
            "SELECT m.workspace_id, w.name, m.role, m.created_at FROM memberships m "
            "JOIN workspaces w ON w.id = m.workspace_id WHERE m.user_id = $1 "
            "ORDER BY m.created_at, m.workspace_id",
            uid,
        )
        return [
            WorkspaceMembership(str(r["workspace_id"]), r["name"], Role(r["role"]), r["created_at"])
            for r in rows
        ]

    async def count(self) -> int:
        return int(await self._db.fetchval("SELECT count(*) FROM users"))


class PgUserStore:
    """The user and workspace statements of a unit of work, on its connection; `announce` queues
    an invalidation message for when it commits."""

    def __init__(self, conn: Executor, announce: Callable[[str], None]) -> None:
        self._conn = conn
        self._announce = announce

    async def workspace_named(self, name: str) -> Workspace:
        row = await self._conn.fetchrow(
            "INSERT INTO workspaces (id, name) VALUES ($1, $2) "
            "ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name "
            "RETURNING id, name, access_token_ttl_seconds",
            uuid.uuid4(),
            name,
        )
        assert row is not None
        return _workspace(row)

    async def create(self, workspace: Workspace, email: str, password_hash: str, role: Role) -> UserRecord:
        user_id = uuid.uuid4()
        try:
            # `workspace_id` and `role` on the user row: the home membership the previous release reads.
            await self._conn.execute(
                "INSERT INTO users (id, workspace_id, email, password_hash, role) "
                "VALUES ($1, $2, $3, $4, $5)",
                user_id,
                uuid.UUID(workspace.id),
                email,
                password_hash,
                role.value,
            )
        except asyncpg.UniqueViolationError:
            raise AuthError(ErrorCode.ALREADY_EXISTS, "A user with this email already exists") from None
        await self.add_membership(str(user_id), workspace.id, role)
        membership = Membership(workspace.id, role, workspace.access_token_ttl)
        return UserRecord(str(user_id), email, password_hash, False, membership)

    async def workspace(self, workspace_id: str) -> Workspace:
        row = await self._conn.fetchrow(
            "SELECT id, name, access_token_ttl_seconds FROM workspaces WHERE id = $1", uuid.UUID(workspace_id)
        )
        assert row is not None
        return _workspace(row)

    async def add_membership(self, user_id: str, workspace_id: str, role: Role) -> bool:
        status: str = await self._conn.execute(
            "INSERT INTO memberships (user_id, workspace_id, role) VALUES ($1, $2, $3) "
            "ON CONFLICT (user_id, workspace_id) DO NOTHING",
            uuid.UUID(user_id),
            uuid.UUID(workspace_id),
            role.value,
        )
        return status == "INSERT 0 1"

    async def set_password_hash(self, user_id: str, password_hash: str) -> bool:
        status: str = await self._conn.execute(
            "UPDATE users SET password_hash = $2 WHERE id = $1 AND disabled_at IS NULL",
            uuid.UUID(user_id),
            password_hash,
        )
        return status != "UPDATE 0"

    async def disable(self, email: str | None = None, user_id: str | None = None) -> str | None:
        column, value = ("id", parse_uuid(user_id or "")) if email is None else ("email", email)
        if value is None:
            return None
        disabled = await self._conn.fetchval(
            f"UPDATE users SET disabled_at = now() WHERE {column} = $1 AND disabled_at IS NULL RETURNING id",
            value,
        )
        if disabled is not None:
            self._announce(messages.user_disabled(disabled))  # its sessions and keys leave every cache
        return None if disabled is None else str(disabled)


class PgWorkspaceRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def get(self, workspace_id: str) -> Workspace | None:
        wid = parse_uuid(workspace_id)
        if wid is None:
            return None
        row = await self._db.fetchrow(
            "SELECT id, name, access_token_ttl_seconds FROM workspaces WHERE id = $1", wid
        )
        return _workspace(row) if row else None

    async def set_access_token_ttl(self, workspace_id: str, ttl: int) -> Workspace | None:
        wid = parse_uuid(workspace_id)
        if wid is None:
            return None
        row = await self._db.fetchrow(
            "UPDATE workspaces SET access_token_ttl_seconds = $2 WHERE id = $1 "
            "RETURNING id, name, access_token_ttl_seconds",
            wid,
            ttl,
        )
        return _workspace(row) if row else None
