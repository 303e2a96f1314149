"""Reading a workspace's audit events from PostgreSQL, newest first."""

from __future__ import annotations

from datetime import datetime

from authsvc.adapters.database import Database
from authsvc.adapters.ids import parse_uuid
from authsvc.service.ports import AuditFilter, AuditRecord

_PAGE = """
SELECT id, event, at, user_id, subject_id, client_ip, detail FROM audit_events
WHERE workspace_id = $1
  AND ($2::text IS NULL OR event = $2)
  AND ($3::uuid IS NULL OR user_id = $3)
  AND ($4::timestamptz IS NULL OR at >= $4)
  AND ($5::timestamptz IS NULL OR (at, id) < ($5, $6::bigint))
ORDER BY at DESC, id DESC
LIMIT $7
"""


class PgAuditTrail:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def of_workspace(
        self, workspace_id: str, only: AuditFilter, before: tuple[datetime, int] | None, limit: int
    ) -> list[AuditRecord]:
        wid = parse_uuid(workspace_id)
        actor = parse_uuid(only.actor_id) if only.actor_id is not None else None
        if wid is None or (only.actor_id is not None and actor is None):
            return []
        at, after_id = before if before is not None else (None, None)
        rows = await self._db.fetch(_PAGE, wid, only.type, actor, only.since, at, after_id, limit)
        return [
            AuditRecord(
                id=r["id"],
                type=r["event"],
                at=r["at"],
                actor_id=str(r["user_id"]) if r["user_id"] is not None else None,
                subject_id=r["subject_id"],
                client_ip=r["client_ip"],
                detail=r["detail"],
            )
            for r in rows
        ]
