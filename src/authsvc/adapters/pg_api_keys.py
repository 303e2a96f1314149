"""API keys in PostgreSQL: only a SHA-256 of each key is stored, never the key."""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg

from authsvc.adapters import invalidation_messages as messages
from authsvc.adapters.database import Database, Executor
from authsvc.adapters.ids import parse_uuid
from authsvc.domain.errors import AuthError
from authsvc.domain.pages import Cursor
from authsvc.domain.plans import Limits
from authsvc.service.ports import ApiKeyRecord, KeyFilter, KeyUsage

log = logging.getLogger(__name__)
_COLUMNS = (
    "k.id, k.workspace_id, k.created_by, k.name, k.prefix, k.permissions, k.environment, "
    "k.created_at, k.last_used_at, k.revoked_at, k.created_by_key_id, k.expires_at, k.metadata::text, "
    "k.rate_limit_per_minute, k.rate_limit_per_day"
)


def _record(row: asyncpg.Record) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=str(row["id"]),
        workspace_id=str(row["workspace_id"]),
        created_by=str(row["created_by"]),
        name=row["name"],
        prefix=row["prefix"],
        permissions=frozenset(row["permissions"]),
        environment=row["environment"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
        created_by_key_id=str(row["created_by_key_id"]) if row["created_by_key_id"] else None,
        expires_at=row["expires_at"],
        metadata=row["metadata"],
        limits=_limits(row["rate_limit_per_minute"], row["rate_limit_per_day"]),
        secret_ends_at=row.get("secret_ends_at"),
    )


def _limits(per_minute: int | None, per_day: int | None) -> Limits | None:
    return Limits(per_minute, per_day) if per_minute is not None or per_day is not None else None


class PgApiKeyRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def with_digest(self, key_id: str) -> tuple[bytes, ApiKeyRecord] | None:
        """A live key by id, with its digest (to warm a cache after another replica created it)."""
        kid = parse_uuid(key_id)
        if kid is None:
            return None
        row = await self._db.fetchrow(
            f"SELECT k.key_hash, {_COLUMNS} FROM api_keys k JOIN users u ON u.id = k.created_by "
            "WHERE k.id = $1 AND k.revoked_at IS NULL AND u.disabled_at IS NULL",
            kid,
        )
        return (bytes(row["key_hash"]), _record(row)) if row else None

    def known(self, digest: bytes) -> tuple[bool, ApiKeyRecord | None]:
        return False, None  # only the database can tell (CachedApiKeyRepository remembers)

    async def by_digest(self, digest: bytes) -> ApiKeyRecord | None:
        """The live key whose current secret has this digest, or whose previous one (then with
        `secret_ends_at`, the end of that secret's overlap: the caller's clock decides)."""
        row = await self._db.fetchrow(
            f"SELECT {_COLUMNS}, CASE WHEN k.key_hash = $1 THEN NULL ELSE k.previous_expires_at END "
            "AS secret_ends_at FROM api_keys k JOIN users u ON u.id = k.created_by "
            "WHERE (k.key_hash = $1 OR k.previous_key_hash = $1) AND k.revoked_at IS NULL "
            "AND u.disabled_at IS NULL",
            digest,
        )
        return _record(row) if row else None

    async def most_used(self, limit: int) -> list[tuple[bytes, ApiKeyRecord]]:
        """The live keys most recently used (digest, record), to warm a replica's cache."""
        rows = await self._db.fetch(
            f"SELECT k.key_hash, {_COLUMNS} FROM api_keys k JOIN users u ON u.id = k.created_by "
            "WHERE k.revoked_at IS NULL AND u.disabled_at IS NULL "
            "ORDER BY k.last_used_at DESC NULLS LAST, k.created_at DESC LIMIT $1",
            limit,
        )
        return [(bytes(r["key_hash"]), _record(r)) for r in rows]

    async def in_workspace(self, workspace_id: str, key_id: str) -> ApiKeyRecord | None:
        kid, wid = parse_uuid(key_id), parse_uuid(workspace_id)
        if kid is None or wid is None:
            return None
        row = await self._db.fetchrow(
            f"SELECT {_COLUMNS} FROM api_keys k WHERE k.id = $1 AND k.workspace_id = $2", kid, wid
        )
        return _record(row) if row else None

    async def list(
        self, workspace_id: str, after: Cursor | None, limit: int, only: KeyFilter
    ) -> Sequence[ApiKeyRecord]:
        wid = parse_uuid(workspace_id)
        if wid is None:
            return []
        start = (after.created_at, parse_uuid(after.id)) if after is not None else (None, None)
        if after is not None and start[1] is None:
            return []  # a cursor naming no key: nothing comes after it
        rows = await self._db.fetch(
            f"SELECT {_COLUMNS} FROM api_keys k WHERE k.workspace_id = $1 "
            "AND ($2::timestamptz IS NULL OR (k.created_at, k.id) > ($2, $3::uuid)) "
            "AND ($5::text IS NULL OR k.environment = $5) "
            "AND ($6::text IS NULL "
            "  OR ($6 = 'revoked' AND k.revoked_at IS NOT NULL) "
            "  OR ($6 = 'expired' AND k.revoked_at IS NULL AND k.expires_at <= $7) "
            "  OR ($6 = 'active' AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $7))) "
            "ORDER BY k.created_at, k.id LIMIT $4",
            wid,
            *start,
            limit,
            only.environment,
            only.state.value if only.state is not None else None,
            only.now,
        )
        return [_record(r) for r in rows]

    async def live_digests(self) -> Sequence[bytes]:
        """The digest of every key that validates (live, its creator enabled): what a replica
        needs to refuse any other key without asking."""
        rows = await self._db.fetch(
            "SELECT k.key_hash, k.previous_key_hash FROM api_keys k JOIN users u ON u.id = k.created_by "
            "WHERE k.revoked_at IS NULL AND u.disabled_at IS NULL"
        )
        current = [bytes(r["key_hash"]) for r in rows]
        return current + [bytes(r["previous_key_hash"]) for r in rows if r["previous_key_hash"]]


class PgApiKeyStore:
    """The API key statements of a unit of work, on its connection; `announce` queues an
    invalidation message for when it commits."""

    def __init__(self, conn: Executor, announce: Callable[[str], None]) -> None:
        self._conn = conn
        self._announce = announce

    async def create(self, record: ApiKeyRecord, digest: bytes) -> None:
        await self._conn.execute(
            "INSERT INTO api_keys (id, workspace_id, created_by, name, prefix, key_hash, "
            "permissions, environment, created_at, created_by_key_id, expires_at, metadata, "
            "rate_limit_per_minute, rate_limit_per_day) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13, $14)",
            record.id,
            record.workspace_id,
            record.created_by,
            record.name,
            record.prefix,
            digest,
            sorted(record.permissions),
            record.environment,
            record.created_at,
            record.created_by_key_id,
            record.expires_at,
            record.metadata,
            record.limits.per_minute if record.limits else None,
            record.limits.per_day if record.limits else None,
        )
        self._announce(messages.key_created(record.id, digest))  # every replica adds its digest

    async def hold_live(self, key_id: str) -> bool:
        """Whether the key is live, holding it so until the unit of work ends: a key cannot be
        revoked while a key it creates is being written (and so escape the revocation)."""
        kid = parse_uuid(key_id)
        if kid is None:
            return False
        live = await self._conn.fetchval(
            "SELECT true FROM api_keys WHERE id = $1 AND revoked_at IS NULL FOR SHARE", kid
        )
        return bool(live)

    async def for_change(self, workspace_id: str, key_id: str) -> ApiKeyRecord | None:
        """The key, locked until the unit of work ends, if it is one of the workspace's."""
        kid, wid = parse_uuid(key_id), parse_uuid(workspace_id)
        if kid is None or wid is None:
            return None
        row = await self._conn.fetchrow(
            f"SELECT {_COLUMNS} FROM api_keys k WHERE k.id = $1 AND k.workspace_id = $2 FOR UPDATE",
            kid,
            wid,
        )
        return _record(row) if row else None

    async def revoke(self, key_ids: Sequence[str], now: datetime) -> list[str]:
        """Revokes those of the keys that are live; returns their ids."""
        rows = await self._conn.fetch(
            "UPDATE api_keys SET revoked_at = $2 WHERE id = ANY($1::uuid[]) AND revoked_at IS NULL "
            "RETURNING id",
            list(key_ids),
            now,
        )
        return self._revoked(rows)

    async def update(self, record: ApiKeyRecord) -> None:
        await self._conn.execute(
            "UPDATE api_keys SET name = $2, permissions = $3, metadata = $4::jsonb, expires_at = $5, "
            "rate_limit_per_minute = $6, rate_limit_per_day = $7 WHERE id = $1",
            parse_uuid(record.id),
            record.name,
            sorted(record.permissions),
            record.metadata,
            record.expires_at,
            record.limits.per_minute if record.limits else None,
            record.limits.per_day if record.limits else None,
        )
        self._announce(messages.key_changed(record.id))

    async def rotate(self, key_id: str, digest: bytes, prefix: str, previous_ends_at: datetime) -> None:
        await self._conn.execute(
            "UPDATE api_keys SET previous_key_hash = key_hash, previous_expires_at = $4, "
            "key_hash = $2, prefix = $3 WHERE id = $1",
            parse_uuid(key_id),
            digest,
            prefix,
            previous_ends_at,
        )
        self._announce(messages.key_created(key_id, digest))  # its new digest, on every replica
        self._announce(messages.key_changed(key_id))  # and no cached record of its older secrets

    async def revoke_created_with(self, key_ids: Sequence[str], now: datetime) -> list[str]:
        """Revokes the live keys created with any of `key_ids`; returns their ids. (Each call is a
        statement of its own, so it sees keys whose creation committed while the previous call
        waited for their parent's lock.)"""
        rows = await self._conn.fetch(
            "UPDATE api_keys SET revoked_at = $2 WHERE created_by_key_id = ANY($1::uuid[]) "
            "AND revoked_at IS NULL RETURNING id",
            list(key_ids),
            now,
        )
        return self._revoked(rows)

    async def narrow_created_with(self, key_ids: Sequence[str], allowed: frozenset[str]) -> list[str]:
        rows = await self._conn.fetch(
            "UPDATE api_keys SET permissions = ARRAY(SELECT p FROM unnest(permissions) AS p "
            "WHERE p = ANY($2::text[]) ORDER BY p) "
            "WHERE created_by_key_id = ANY($1::uuid[]) AND revoked_at IS NULL RETURNING id",
            list(key_ids),
            sorted(allowed),
        )
        ids = [str(row["id"]) for row in rows]
        for key_id in ids:
            self._announce(messages.key_changed(key_id))
        return ids

    def _revoked(self, rows: Sequence[Any]) -> list[str]:
        ids = [str(row["id"]) for row in rows]
        for key_id in ids:
            self._announce(messages.key_revoked(key_id))
        return ids


USAGE_DAYS, USAGE_MINUTES = 30, 60  # what `usage` reports
KEEP_MINUTES, KEEP_DAYS = timedelta(hours=2), timedelta(days=90)  # what `forget_old_usage` keeps


async def forget_old_usage(db: Database, now: datetime) -> None:
    await db.execute("DELETE FROM api_key_usage_minutes WHERE minute < $1", now - KEEP_MINUTES)
    await db.execute("DELETE FROM api_key_usage_days WHERE day < $1", (now - KEEP_DAYS).date())


class BatchedUsageRecorder:
    """Keeps each key's latest use, and its charged requests per minute, in memory and writes
    them in a few statements per flush."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: dict[str, datetime] = {}
        self._counts: collections.Counter[tuple[str, int]] = collections.Counter()  # by epoch minute

    def mark_used(self, key_id: str, at: datetime) -> None:
        self._pending[key_id] = at

    def count_requests(self, key_id: str, moment: float, requests: int) -> None:
        self._counts[key_id, int(moment // 60)] += requests

    async def flush(self) -> None:
        await self._flush_counts()
        await self._flush_last_used()

    async def _flush_counts(self) -> None:
        if not self._counts:
            return
        batch, self._counts = self._counts, collections.Counter()
        days: collections.Counter[tuple[str, date]] = collections.Counter()
        per_minute: list[tuple[tuple[str, datetime], int]] = []
        for (key_id, minute), requests in batch.items():
            start = datetime.fromtimestamp(minute * 60, UTC)
            days[key_id, start.date()] += requests
            per_minute.append(((key_id, start), requests))
        minutes = sorted(per_minute)  # one order on every replica: upserts cannot deadlock
        try:
            async with self._db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO api_key_usage_minutes AS u (key_id, minute, requests) "
                    "SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::bigint[]) "
                    "ON CONFLICT (key_id, minute) DO UPDATE SET requests = u.requests + EXCLUDED.requests",
                    [key for (key, _), _ in minutes],
                    [minute for (_, minute), _ in minutes],
                    [requests for _, requests in minutes],
                )
                per_day = sorted(days.items())
                await conn.execute(
                    "INSERT INTO api_key_usage_days AS u (key_id, day, requests) "
                    "SELECT * FROM unnest($1::uuid[], $2::date[], $3::bigint[]) "
                    "ON CONFLICT (key_id, day) DO UPDATE SET requests = u.requests + EXCLUDED.requests",
                    [key for (key, _), _ in per_day],
                    [day for (_, day), _ in per_day],
                    [requests for _, requests in per_day],
                )
        except AuthError:
            self._counts.update(batch)  # kept for the next flush
            raise

    async def usage(self, key_id: str, now: datetime) -> KeyUsage:
        """Per UTC day for the last 30 days and per minute for the last 60 minutes, oldest first."""
        kid = parse_uuid(key_id)
        today = now.astimezone(UTC).date()
        minute = now.astimezone(UTC).replace(second=0, microsecond=0)
        day_starts = [today - timedelta(days=n) for n in range(USAGE_DAYS - 1, -1, -1)]
        minute_starts = [minute - timedelta(minutes=n) for n in range(USAGE_MINUTES - 1, -1, -1)]
        by_day = dict(
            await self._db.fetch(
                "SELECT day, requests FROM api_key_usage_days WHERE key_id = $1 AND day >= $2",
                kid,
                day_starts[0],
            )
        )
        by_minute = dict(
            await self._db.fetch(
                "SELECT minute, requests FROM api_key_usage_minutes WHERE key_id = $1 AND minute >= $2",
                kid,
                minute_starts[0],
            )
        )
        return KeyUsage(
            [(datetime.combine(day, time(), UTC), int(by_day.get(day, 0))) for day in day_starts],
            [(start, int(by_minute.get(start, 0))) for start in minute_starts],
        )

    async def _flush_last_used(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        try:
            # Rows locked elsewhere (a key being revoked with the keys it made) are skipped, not
            # waited for: waiting on several rows in no set order could deadlock with that
            # revocation. A skipped use is written at the next flush.
            rows = await self._db.fetch(
                "WITH v AS (SELECT * FROM unnest($1::uuid[], $2::timestamptz[]) AS v(id, at)), "
                "free AS (SELECT k.id FROM api_keys k JOIN v ON v.id = k.id FOR UPDATE OF k SKIP LOCKED), "
                "written AS (UPDATE api_keys k SET last_used_at = v.at FROM v, free "
                "WHERE k.id = v.id AND k.id = free.id AND (k.last_used_at IS NULL OR k.last_used_at < v.at)) "
                "SELECT id FROM free",
                list(batch),
                list(batch.values()),
            )
        except AuthError:
            for key_id, at in batch.items():  # keep them for the next flush
                self._pending.setdefault(key_id, at)
            raise
        locked = {str(row["id"]) for row in rows}
        for key_id, at in batch.items():  # skipped: locked elsewhere, so next time
            if key_id not in locked:
                self._pending.setdefault(key_id, at)

    async def run(self, interval: float) -> None:
        """Flushes every `interval` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.flush()
            except AuthError:
                log.warning("could not record API key usage; will retry")
            except Exception:
                log.exception("recording API key usage failed; will retry")
