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
from authsvc.service.ports import UserRecord, Workspace

_USER_COLUMNS = """
    u.id, u.workspace_id, u.email, u.password_hash, u.role, u.disabled_at IS NOT NULL AS disabled,
    w.access_token_ttl_seconds
"""


def _user(row: asyncpg.Record) -> UserRecord:
    return UserRecord(
        id=str(row["id"]),
        workspace_id=str(row["workspace_id"]),
        email=row["email"],
        password_hash=row["password_hash"],
        role=Role(row["role"]),
        disabled=row["disabled"],
        access_token_ttl=row["access_token_ttl_seconds"],
    )


def _workspace(row: asyncpg.Record) -> Workspace:
    return Workspace(str(row["id"]), row["name"], row["access_token_ttl_seconds"])


class PgUserRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def by_email(self, email: str) -> UserRecord | None:
        row = await self._db.fetchrow(
            f"SELECT {_USER_COLUMNS} FROM users u JOIN workspaces w ON w.id = u.workspace_id "
            "WHERE u.email = $1",  # stored in normal form, as `email` is given
            email,
        )
        return _user(row) if row else None

    async def by_id(self, user_id: str) -> UserRecord | None:
        uid = parse_uuid(user_id)
        if uid is None:
            return None
        row = await self._db.fetchrow(
            f"SELECT {_USER_COLUMNS} FROM users u JOIN workspaces w ON w.id = u.workspace_id WHERE u.id = $1",
            uid,
        )
        return _user(row) if row else None

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
        return UserRecord(
            str(user_id), workspace.id, email, password_hash, role, False, workspace.access_token_ttl
        )

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
