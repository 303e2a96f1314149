"""Password reset tokens in PostgreSQL, by the SHA-256 of the token (the token itself is never
stored): on the pool (`PgPasswordResetRepository`) and inside a unit of work (`PgPasswordResetStore`)."""

from __future__ import annotations

import uuid
from datetime import datetime

from authsvc.adapters.database import Database, Executor
from authsvc.service.ports import ResetTokenRecord


class PgPasswordResetRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def find(self, digest: bytes) -> ResetTokenRecord | None:
        row = await self._db.fetchrow(
            "SELECT t.user_id, u.email, u.workspace_id, t.expires_at, t.used_at IS NOT NULL AS used, "
            "u.disabled_at IS NOT NULL AS disabled, t.issued_by IS NOT NULL AS by_admin, "
            "t.workspace_id AS issued_in "
            "FROM password_reset_tokens t JOIN users u ON u.id = t.user_id WHERE t.digest = $1",
            digest,
        )
        if row is None:
            return None
        return ResetTokenRecord(
            user_id=str(row["user_id"]),
            email=row["email"],
            workspace_id=str(row["workspace_id"]) if row["workspace_id"] is not None else None,
            expires_at=row["expires_at"],
            used=row["used"],
            user_disabled=row["disabled"],
            by_admin=row["by_admin"],
            issued_in=str(row["issued_in"]) if row["issued_in"] is not None else None,
        )


class PgPasswordResetStore:
    def __init__(self, conn: Executor) -> None:
        self._conn = conn

    async def issue(
        self,
        digest: bytes,
        user_id: str,
        issued_by: str | None,
        now: datetime,
        expires_at: datetime,
        retire: bool,
        workspace_id: str | None = None,
    ) -> None:
        uid = uuid.UUID(user_id)
        if retire:
            await self.retire_all(user_id, now)
        await self._conn.execute(
            "INSERT INTO password_reset_tokens (digest, user_id, issued_by, created_at, expires_at, "
            "workspace_id) VALUES ($1, $2, $3, $4, $5, $6)",
            digest,
            uid,
            uuid.UUID(issued_by) if issued_by else None,
            now,
            expires_at,
            uuid.UUID(workspace_id) if workspace_id else None,
        )

    async def retire_all(self, user_id: str, now: datetime) -> None:
        await self._conn.execute(
            "UPDATE password_reset_tokens SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL",
            uuid.UUID(user_id),
            now,
        )

    async def claim(self, digest: bytes, now: datetime) -> str | None:
        user_id = await self._conn.fetchval(
            "UPDATE password_reset_tokens SET used_at = $2 "
            "WHERE digest = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id",
            digest,
            now,
        )
        return None if user_id is None else str(user_id)
