"""The audit trail: events logged at once and written to PostgreSQL in small batches.

Recording never waits on the database, so a login is not slowed by its audit row; events are
written within about a second, and kept (up to a bound) while the database is unreachable.
"""

from __future__ import annotations

import asyncio
import logging

from authsvc import metrics
from authsvc.adapters.database import Database
from authsvc.domain.audit import AuditEvent, AuditKind, type_name
from authsvc.domain.errors import AuthError

log = logging.getLogger("authsvc.audit")
_MAX_PENDING = 10_000
_INSERT = """
INSERT INTO audit_events (at, event, user_id, workspace_id, subject_id, client_ip, detail)
SELECT * FROM unnest(
    $1::timestamptz[], $2::text[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[]
)
"""
_LOGIN_OUTCOME = {AuditKind.LOGIN_SUCCEEDED: "succeeded", AuditKind.LOGIN_FAILED: "failed"}


def _count(event: AuditEvent) -> None:
    metrics.AUDIT_EVENTS.labels(event.kind.name.lower()).inc()
    if event.kind in _LOGIN_OUTCOME:
        metrics.LOGINS.labels(_LOGIN_OUTCOME[event.kind]).inc()
    elif event.kind is AuditKind.REFRESH_TOKEN_REUSE:
        metrics.REFRESH_REUSE.inc()
    elif event.kind is AuditKind.RATE_LIMIT_REFUSED:
        bucket = event.bucket or "unknown"
        metrics.RATE_LIMITED.labels(bucket).inc()
        if bucket.startswith("login"):
            metrics.LOGINS.labels("rate_limited").inc()


class BufferedAuditLog:
    def __init__(self, db: Database, delay: float = 0.5) -> None:
        self._db = db
        self._delay = delay
        self._pending: list[AuditEvent] = []
        self._writer: asyncio.Task[None] | None = None

    def record(self, event: AuditEvent) -> None:
        fields = " ".join(
            f"{name}={value}"
            for name, value in (
                ("user", event.user_id),
                ("workspace", event.workspace_id),
                ("subject", event.subject_id),
                ("ip", event.client_ip),
                ("detail", event.detail),
            )
            if value
        )
        level = logging.WARNING if event.kind is AuditKind.REFRESH_TOKEN_REUSE else logging.INFO
        log.log(level, "%s %s", event.kind.value, fields)
        _count(event)
        if len(self._pending) >= _MAX_PENDING:
            del self._pending[0]
        self._pending.append(event)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write_soon())

    async def _write_soon(self) -> None:
        await asyncio.sleep(self._delay)
        try:
            await self.flush()
        except AuthError:
            log.warning("audit events kept in memory: database unavailable")

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        try:
            await self._db.execute(
                _INSERT,
                [e.at for e in batch],
                [type_name(e.kind) for e in batch],
                [e.user_id for e in batch],
                [e.workspace_id for e in batch],
                [e.subject_id for e in batch],
                [e.client_ip for e in batch],
                [e.detail for e in batch],
            )
        except AuthError:
            room = max(0, _MAX_PENDING - len(self._pending))
            self._pending[:0] = batch[len(batch) - room :] if room else []
            raise

    async def close(self) -> None:
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)
        try:
            await self.flush()
        except AuthError:
            log.warning("audit events lost at shutdown: database unavailable")
