"""Invitations in PostgreSQL, by the SHA-256 of their token (the token itself is never stored):
on the pool (`PgInvitationRepository`) and inside a unit of work (`PgInvitationStore`)."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from authsvc.adapters.database import Database, Executor
from authsvc.adapters.ids import parse_uuid
from authsvc.domain.pages import Cursor
from authsvc.domain.permissions import Role
from authsvc.service.ports import InvitationRecord

_COLUMNS = "id, workspace_id, email, role, created_at, expires_at, accepted_at, retired_at"


def _invitation(row: asyncpg.Record) -> InvitationRecord:
    return InvitationRecord(
        id=str(row["id"]),
        workspace_id=str(row["workspace_id"]),
        email=row["email"],
        role=Role(row["role"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        accepted_at=row["accepted_at"],
        retired_at=row["retired_at"],
    )


class PgInvitationRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def find(self, digest: bytes) -> InvitationRecord | None:
        row = await self._db.fetchrow(f"SELECT {_COLUMNS} FROM invitations WHERE digest = $1", digest)
        return _invitation(row) if row else None

    async def open_in(
        self, workspace_id: str, now: datetime, after: Cursor | None, limit: int
    ) -> list[InvitationRecord]:
        wid = parse_uuid(workspace_id)
        start = (after.created_at, parse_uuid(after.id)) if after is not None else (None, None)
        if wid is None or (after is not None and start[1] is None):
            return []
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM invitations WHERE workspace_id = $1 "
            "AND accepted_at IS NULL AND retired_at IS NULL AND expires_at > $2 "
            "AND ($3::timestamptz IS NULL OR (created_at, id) > ($3, $4::uuid)) "
            "ORDER BY created_at, id LIMIT $5",
            wid,
            now,
            *start,
            limit,
        )
        return [_invitation(r) for r in rows]


class PgInvitationStore:
    def __init__(self, conn: Executor) -> None:
        self._conn = conn

    async def add(
        self,
        digest: bytes,
        workspace_id: str,
        email: str,
        role: Role,
        invited_by: str | None,
        now: datetime,
        expires_at: datetime,
    ) -> InvitationRecord:
        wid = uuid.UUID(workspace_id)
        await self._conn.execute(
            "UPDATE invitations SET retired_at = $3 WHERE workspace_id = $1 AND email = $2 "
            "AND accepted_at IS NULL AND retired_at IS NULL",
            wid,
            email,
            now,
        )
        row = await self._conn.fetchrow(
            "INSERT INTO invitations "
            "(id, workspace_id, email, role, digest, invited_by, created_at, expires_at) "
            f"VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_COLUMNS}",
            uuid.uuid4(),
            wid,
            email,
            role.value,
            digest,
            parse_uuid(invited_by) if invited_by else None,
            now,
            expires_at,
        )
        assert row is not None
        return _invitation(row)

    async def claim(self, digest: bytes, now: datetime) -> bool:
        status: str = await self._conn.execute(
            "UPDATE invitations SET accepted_at = $2 WHERE digest = $1 "
            "AND accepted_at IS NULL AND retired_at IS NULL AND expires_at > $2",
            digest,
            now,
        )
        return status == "UPDATE 1"

    async def accepted_by(self, digest: bytes, user_id: str) -> None:
        await self._conn.execute(
            "UPDATE invitations SET accepted_by = $2 WHERE digest = $1", digest, uuid.UUID(user_id)
        )

    async def retire_made_by(self, user_id: str, workspace_id: str, now: datetime) -> int:
        status: str = await self._conn.execute(
            "UPDATE invitations SET retired_at = $3 WHERE invited_by = $1 AND workspace_id = $2 "
            "AND accepted_at IS NULL AND retired_at IS NULL",
            uuid.UUID(user_id),
            uuid.UUID(workspace_id),
            now,
        )
        return int(status.split()[-1])

    async def withdraw(self, workspace_id: str, invitation_id: str, now: datetime) -> bool:
        iid, wid = parse_uuid(invitation_id), parse_uuid(workspace_id)
        if iid is None or wid is None:
            return False
        status: str = await self._conn.execute(
            "UPDATE invitations SET retired_at = $3 WHERE id = $1 AND workspace_id = $2 "
            "AND accepted_at IS NULL AND retired_at IS NULL AND expires_at > $3",
            iid,
            wid,
            now,
        )
        return status == "UPDATE 1"
