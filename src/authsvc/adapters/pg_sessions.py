"""Login sessions and their refresh tokens in PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from authsvc.adapters.database import Database
from authsvc.adapters.ids import parse_uuid
from authsvc.adapters.invalidation import notify
from authsvc.domain.permissions import Role
from authsvc.domain.refresh_rules import RefreshDecision, RefreshState, decide
from authsvc.service.ports import RefreshOutcome, RefreshTokenRecord

# Locks the session row: concurrent refreshes of one session run one after the other, and the
# token row is read only after the lock is held, so each sees what the one before committed.
_LOCK_SESSION = """
SELECT s.id, s.user_id, s.expires_at, s.revoked_at IS NOT NULL AS revoked, s.current_jti,
       u.workspace_id, u.role, u.disabled_at IS NOT NULL AS disabled, w.access_token_ttl_seconds
FROM sessions s
JOIN users u ON u.id = s.user_id
JOIN workspaces w ON w.id = u.workspace_id
WHERE s.id = (SELECT session_id FROM refresh_tokens WHERE jti = $1)
FOR NO KEY UPDATE OF s
"""


class PgSessionRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def start(self, user_id: str, session_expires_at: datetime, token: RefreshTokenRecord) -> str:
        session_id = uuid.uuid4()
        expires_at = min(token.expires_at, session_expires_at)
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO sessions (id, user_id, created_at, expires_at, current_jti) "
                "VALUES ($1, $2, $3, $4, $5)",
                session_id,
                user_id,
                token.issued_at,
                session_expires_at,
                token.jti,
            )
            await conn.execute(
                "INSERT INTO refresh_tokens (jti, session_id, issued_at, expires_at) VALUES ($1, $2, $3, $4)",
                token.jti,
                session_id,
                token.issued_at,
                expires_at,
            )
        return str(session_id)

    async def refresh(
        self, jti: str, now: datetime, grace: timedelta, next_token: RefreshTokenRecord
    ) -> RefreshOutcome:
        token_id = parse_uuid(jti)
        if token_id is None:
            return RefreshOutcome(RefreshDecision.REJECT)
        async with self._db.transaction() as conn:
            session = await conn.fetchrow(_LOCK_SESSION, token_id)
            if session is None:
                return RefreshOutcome(RefreshDecision.REJECT)
            token = await conn.fetchrow(
                "SELECT expires_at, retired_at FROM refresh_tokens WHERE jti = $1", token_id
            )
            assert token is not None
            state = RefreshState(
                token_retired_at=token["retired_at"],
                token_expires_at=token["expires_at"],
                session_revoked=session["revoked"],
                session_expires_at=session["expires_at"],
                user_disabled=session["disabled"],
            )
            decision = decide(state, now, grace)
            live: RefreshTokenRecord | None = None
            if decision is RefreshDecision.ROTATE:
                live = RefreshTokenRecord(
                    next_token.jti,
                    next_token.issued_at,
                    min(next_token.expires_at, session["expires_at"]),
                )
                await conn.execute("UPDATE refresh_tokens SET retired_at = $2 WHERE jti = $1", token_id, now)
                await conn.execute(
                    "INSERT INTO refresh_tokens (jti, session_id, issued_at, expires_at) "
                    "VALUES ($1, $2, $3, $4)",
                    live.jti,
                    session["id"],
                    live.issued_at,
                    live.expires_at,
                )
                await conn.execute(
                    "UPDATE sessions SET current_jti = $2 WHERE id = $1", session["id"], live.jti
                )
            elif decision is RefreshDecision.REPLAY:
                current = await conn.fetchrow(
                    "SELECT jti, issued_at, expires_at FROM refresh_tokens WHERE jti = $1",
                    session["current_jti"],
                )
                if current is None or current["expires_at"] <= now:
                    decision = RefreshDecision.REJECT
                else:
                    live = RefreshTokenRecord(
                        str(current["jti"]), current["issued_at"], current["expires_at"]
                    )
            elif decision is RefreshDecision.REUSE:
                await conn.execute(
                    "UPDATE sessions SET revoked_at = $2, revoked_reason = 'refresh_token_reuse' "
                    "WHERE id = $1 AND revoked_at IS NULL",
                    session["id"],
                    now,
                )
                await notify(conn, f"session:{session['id']}")
        return RefreshOutcome(
            decision=decision,
            user_id=str(session["user_id"]),
            workspace_id=str(session["workspace_id"]),
            session_id=str(session["id"]),
            role=Role(session["role"]),
            access_token_ttl=session["access_token_ttl_seconds"],
            token=live,
        )

    async def active_until(self, session_id: str) -> datetime | None:
        sid = parse_uuid(session_id)
        if sid is None:
            return None
        ends: datetime | None = await self._db.fetchval(
            "SELECT s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id "
            "WHERE s.id = $1 AND s.revoked_at IS NULL AND u.disabled_at IS NULL",
            sid,
        )
        return ends

    async def revoke(self, session_id: str, now: datetime, reason: str) -> None:
        sid = parse_uuid(session_id)
        if sid is None:
            return
        async with self._db.transaction() as conn:
            await conn.execute(
                "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 "
                "WHERE id = $1 AND revoked_at IS NULL",
                sid,
                now,
                reason,
            )
            await notify(conn, f"session:{sid}")
