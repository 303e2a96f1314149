"""Login sessions and their refresh tokens in PostgreSQL: on the pool (`PgSessionRepository`) and
inside a unit of work (`PgSessionStore`)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from authsvc.adapters import invalidation_messages as messages
from authsvc.adapters.database import Database, Executor
from authsvc.adapters.ids import parse_uuid
from authsvc.domain.pages import Cursor
from authsvc.domain.permissions import Role
from authsvc.domain.refresh_rules import RefreshState
from authsvc.service.ports import ClientDetails, RefreshingSession, RefreshTokenRecord, SessionInfo

# Locks the session row: concurrent refreshes of one session run one after the other, and the
# token row is read only after the lock is held, so each sees what the one before committed.
_LOCK_SESSION = """
SELECT s.id, s.user_id, s.expires_at, s.revoked_at IS NOT NULL AS revoked, s.current_jti,
       s.workspace_id, m.role, u.disabled_at IS NOT NULL AS disabled, w.access_token_ttl_seconds
FROM sessions s
JOIN users u ON u.id = s.user_id
JOIN workspaces w ON w.id = s.workspace_id
LEFT JOIN memberships m ON m.user_id = s.user_id AND m.workspace_id = s.workspace_id
WHERE s.id = (SELECT session_id FROM refresh_tokens WHERE jti = $1)
FOR NO KEY UPDATE OF s
"""
# A session still lets a token through while its live refresh token or its latest access token
# has not expired.
_LIVE_OF_USER = """
SELECT s.id, s.workspace_id, s.created_at, s.last_refreshed_at, s.expires_at, s.client_ip, s.user_agent
FROM sessions s
WHERE s.user_id = $1 AND s.revoked_at IS NULL AND s.expires_at > $2
  AND (s.access_expires_at > $2
       OR EXISTS (SELECT 1 FROM refresh_tokens t WHERE t.jti = s.current_jti AND t.expires_at > $2))
  AND ($3::timestamptz IS NULL OR (s.created_at, s.id) > ($3, $4::uuid))
ORDER BY s.created_at, s.id
LIMIT $5
"""
# `scoped`: written by a release that scopes sessions to a workspace (migration 0021).
_INSERT_TOKEN = (
    "INSERT INTO refresh_tokens (jti, session_id, issued_at, expires_at, scoped) "
    "VALUES ($1, $2, $3, $4, true)"
)


class PgSessionRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

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

    async def of_user(
        self, user_id: str, now: datetime, after: Cursor | None, limit: int
    ) -> list[SessionInfo]:
        uid = parse_uuid(user_id)
        start = (after.created_at, parse_uuid(after.id)) if after is not None else (None, None)
        if uid is None or (after is not None and start[1] is None):
            return []
        rows = await self._db.fetch(_LIVE_OF_USER, uid, now, *start, limit)
        return [
            SessionInfo(
                id=str(r["id"]),
                workspace_id=str(r["workspace_id"]),
                created_at=r["created_at"],
                last_refreshed_at=r["last_refreshed_at"],
                expires_at=r["expires_at"],
                client=ClientDetails(r["client_ip"], r["user_agent"]),
            )
            for r in rows
        ]

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


class PgSessionStore:
    """The session statements of a unit of work, on its connection; `announce` queues an
    invalidation message for when it commits."""

    def __init__(self, conn: Executor, announce: Callable[[str], None]) -> None:
        self._conn = conn
        self._announce = announce

    async def start(
        self,
        user_id: str,
        workspace_id: str,
        session_expires_at: datetime,
        token: RefreshTokenRecord,
        access_expires_at: datetime,
        client: ClientDetails | None = None,
    ) -> str:
        session_id = uuid.uuid4()
        client = client or ClientDetails()
        uid, wid = uuid.UUID(user_id), uuid.UUID(workspace_id)
        await self._conn.execute(
            "UPDATE users SET last_workspace_id = $2 WHERE id = $1 AND last_workspace_id IS DISTINCT FROM $2",
            uid,
            wid,
        )
        await self._conn.execute(
            "INSERT INTO sessions (id, user_id, workspace_id, created_at, expires_at, current_jti, "
            "access_expires_at, client_ip, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            session_id,
            uid,
            wid,
            token.issued_at,
            session_expires_at,
            uuid.UUID(token.jti),
            access_expires_at,
            client.ip,
            client.user_agent,
        )
        expires_at = min(token.expires_at, session_expires_at)
        await self._conn.execute(_INSERT_TOKEN, uuid.UUID(token.jti), session_id, token.issued_at, expires_at)
        return str(session_id)

    async def for_refresh(self, jti: str) -> RefreshingSession | None:
        token_id = parse_uuid(jti)
        if token_id is None:
            return None
        session = await self._conn.fetchrow(_LOCK_SESSION, token_id)
        if session is None:
            return None
        token = await self._conn.fetchrow(
            "SELECT expires_at, retired_at FROM refresh_tokens WHERE jti = $1", token_id
        )
        assert token is not None
        current = session["current_jti"]
        member = session["role"] is not None
        return RefreshingSession(
            id=str(session["id"]),
            user_id=str(session["user_id"]),
            workspace_id=str(session["workspace_id"]),
            role=Role(session["role"]) if member else Role.VIEWER,  # never minted: refused below
            workspace_ttl=session["access_token_ttl_seconds"],
            expires_at=session["expires_at"],
            current_jti=str(current) if current is not None else None,
            state=RefreshState(
                token_retired_at=token["retired_at"],
                token_expires_at=token["expires_at"],
                session_revoked=session["revoked"],
                session_expires_at=session["expires_at"],
                user_disabled=session["disabled"] or not member,
            ),
        )

    async def rotate(
        self,
        session: RefreshingSession,
        jti: str,
        now: datetime,
        successor: RefreshTokenRecord,
        access_expires_at: datetime,
        client: ClientDetails | None = None,
    ) -> RefreshTokenRecord:
        live = RefreshTokenRecord(
            successor.jti, successor.issued_at, min(successor.expires_at, session.expires_at)
        )
        sid = uuid.UUID(session.id)
        await self._conn.execute(
            "UPDATE refresh_tokens SET retired_at = $2 WHERE jti = $1", uuid.UUID(jti), now
        )
        await self._conn.execute(_INSERT_TOKEN, uuid.UUID(live.jti), sid, live.issued_at, live.expires_at)
        client = client or ClientDetails()
        await self._conn.execute(  # one statement for the session row, as extend_access and more
            "UPDATE sessions SET current_jti = $2, access_expires_at = greatest(access_expires_at, $3), "
            "last_refreshed_at = $4, client_ip = coalesce($5, client_ip), "
            "user_agent = coalesce($6, user_agent) "
            "WHERE id = $1",
            sid,
            uuid.UUID(live.jti),
            access_expires_at,
            now,
            client.ip,
            client.user_agent,
        )
        return live

    async def live_token(self, session: RefreshingSession, now: datetime) -> RefreshTokenRecord | None:
        if session.current_jti is None:
            return None
        current = await self._conn.fetchrow(
            "SELECT jti, issued_at, expires_at FROM refresh_tokens WHERE jti = $1",
            uuid.UUID(session.current_jti),
        )
        if current is None or current["expires_at"] <= now:
            return None
        return RefreshTokenRecord(str(current["jti"]), current["issued_at"], current["expires_at"])

    async def extend_access(self, session_id: str, access_expires_at: datetime) -> None:
        await self._conn.execute(
            "UPDATE sessions SET access_expires_at = greatest(access_expires_at, $2) WHERE id = $1",
            uuid.UUID(session_id),
            access_expires_at,
        )

    async def revoke(self, session_id: str, now: datetime, reason: str) -> None:
        sid = parse_uuid(session_id)
        if sid is None:
            return
        status = await self._conn.execute(
            "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 WHERE id = $1 AND revoked_at IS NULL",
            sid,
            now,
            reason,
        )
        if status != "UPDATE 0":
            self._announce(messages.session_revoked(sid))

    async def revoke_of_user(self, session_id: str, user_id: str, now: datetime, reason: str) -> bool:
        sid, uid = parse_uuid(session_id), parse_uuid(user_id)
        if sid is None or uid is None:
            return False
        row = await self._conn.fetchrow(
            "UPDATE sessions SET revoked_at = coalesce(revoked_at, $3), "
            "revoked_reason = coalesce(revoked_reason, $4) WHERE id = $1 AND user_id = $2 "
            "RETURNING revoked_at = $3 AS ended_now",
            sid,
            uid,
            now,
            reason,
        )
        if row is None:
            return False
        if row["ended_now"]:
            self._announce(messages.session_revoked(sid))
        return True

    async def revoke_all_of_user(
        self, user_id: str, now: datetime, reason: str, keep: str | None, workspace_id: str | None = None
    ) -> int:
        uid = parse_uuid(user_id)
        if uid is None:
            return 0
        rows = await self._conn.fetch(
            "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 "
            "WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 AND id IS DISTINCT FROM $4 "
            "AND ($5::uuid IS NULL OR workspace_id = $5) RETURNING id",
            uid,
            now,
            reason,
            parse_uuid(keep) if keep is not None else None,
            parse_uuid(workspace_id) if workspace_id is not None else None,
        )
        for row in rows:
            self._announce(messages.session_revoked(row["id"]))
        return len(rows)
