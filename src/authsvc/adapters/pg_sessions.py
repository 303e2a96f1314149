"""Login sessions and their refresh tokens in PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import asyncpg

from authsvc.adapters.database import Database
from authsvc.adapters.ids import parse_uuid
from authsvc.adapters.invalidation import notify
from authsvc.domain.permissions import Role
from authsvc.domain.refresh_rules import RefreshDecision, RefreshState, decide
from authsvc.service.ports import AccessExpiry, RefreshOutcome, RefreshTokenRecord

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
_INSERT_TOKEN = "INSERT INTO refresh_tokens (jti, session_id, issued_at, expires_at) VALUES ($1, $2, $3, $4)"


class PgSessionRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def start(
        self,
        user_id: str,
        session_expires_at: datetime,
        token: RefreshTokenRecord,
        access_expires_at: datetime,
    ) -> str:
        session_id = uuid.uuid4()
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO sessions (id, user_id, created_at, expires_at, current_jti, access_expires_at) "
                "VALUES ($1, $2, $3, $4, $5, $6)",
                session_id,
                user_id,
                token.issued_at,
                session_expires_at,
                token.jti,
                access_expires_at,
            )
            expires_at = min(token.expires_at, session_expires_at)
            await conn.execute(_INSERT_TOKEN, token.jti, session_id, token.issued_at, expires_at)
        return str(session_id)

    async def refresh(
        self,
        jti: str,
        now: datetime,
        grace: timedelta,
        next_token: RefreshTokenRecord,
        access_expiry: AccessExpiry,
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
            # What the access token minted with a live refresh token may last; the session keeps
            # the latest such expiry, which is how long a revocation must be remembered.
            access_expires_at = access_expiry(session["access_token_ttl_seconds"], session["expires_at"])
            live: RefreshTokenRecord | None = None
            if decision is RefreshDecision.ROTATE:
                live = await self._rotate(conn, token_id, session, now, next_token, access_expires_at)
            elif decision is RefreshDecision.REPLAY:
                live = await self._live_token(conn, session["current_jti"], now)
                decision = RefreshDecision.REPLAY if live else RefreshDecision.REJECT
                if live is not None:
                    await conn.execute(
                        "UPDATE sessions SET access_expires_at = greatest(access_expires_at, $2) "
                        "WHERE id = $1",
                        session["id"],
                        access_expires_at,
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
            token=live,
            access_expires_at=access_expires_at if live is not None else None,
        )

    async def _rotate(
        self,
        conn: asyncpg.Connection,
        token_id: uuid.UUID,
        session: asyncpg.Record,
        now: datetime,
        next_token: RefreshTokenRecord,
        access_expires_at: datetime,
    ) -> RefreshTokenRecord:
        live = RefreshTokenRecord(
            next_token.jti, next_token.issued_at, min(next_token.expires_at, session["expires_at"])
        )
        await conn.execute("UPDATE refresh_tokens SET retired_at = $2 WHERE jti = $1", token_id, now)
        await conn.execute(_INSERT_TOKEN, live.jti, session["id"], live.issued_at, live.expires_at)
        await conn.execute(
            "UPDATE sessions SET current_jti = $2, access_expires_at = greatest(access_expires_at, $3) "
            "WHERE id = $1",
            session["id"],
            live.jti,
            access_expires_at,
        )
        return live

    async def _live_token(
        self, conn: asyncpg.Connection, current_jti: uuid.UUID, now: datetime
    ) -> RefreshTokenRecord | None:
        current = await conn.fetchrow(
            "SELECT jti, issued_at, expires_at FROM refresh_tokens WHERE jti = $1", current_jti
        )
        if current is None or current["expires_at"] <= now:
            return None
        return RefreshTokenRecord(str(current["jti"]), current["issued_at"], current["expires_at"])

    async def is_live(self, session_id: str, user_id: str) -> bool:
        sid = parse_uuid(session_id)
        if sid is None:
            return False
        live = await self._db.fetchval(
            "SELECT true FROM sessions s JOIN users u ON u.id = s.user_id "
            "WHERE s.id = $1 AND s.user_id::text = $2 AND s.revoked_at IS NULL AND u.disabled_at IS NULL",
            sid,
            user_id,
        )
        return bool(live)

    async def revoked_recently(self, leeway_seconds: int) -> tuple[list[str], list[str]]:
        """Revoked sessions whose access tokens may still be presented (their latest expiry,
        plus the verification leeway, is not yet past), and disabled users: what a replica's
        revocation index must hold."""
        sessions = await self._db.fetch(
            "SELECT id FROM sessions WHERE revoked_at IS NOT NULL "
            "AND access_expires_at > now() - make_interval(secs => $1)",
            leeway_seconds + 60,
        )
        users = await self._db.fetch("SELECT id FROM users WHERE disabled_at IS NOT NULL")
        return [str(r["id"]) for r in sessions], [str(r["id"]) for r in users]

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
