"""The numbered revocations in PostgreSQL (table revocation_events): numbers drawn in commit order,
the events a replica missed while deaf, and forgetting those older than a day.

Numbers are drawn under a transaction-level advisory lock, taken just before commit: two
transactions that revoke serialise for the moment their commits take, so a number is visible
only once every lower one is (or never will be: a rollback leaves a gap, which is harmless). Every
replica hears NOTIFY in commit order, so each sees the numbers rise.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from authsvc.adapters import invalidation_messages as messages
from authsvc.adapters.database import Executor

# Any fixed 64-bit number, different from the migrations' lock.
_LOCK_ID = 0x7265_766F_6B65
KEPT = timedelta(days=1)


async def numbered(conn: Any, announced: list[str]) -> list[str]:
    """The payloads to NOTIFY for `announced`: revocations numbered (rows written on `conn`,
    inside its transaction), everything else as it is."""
    revocations = [m for m in announced if messages.parse(m).kind in messages.REVOCATIONS]
    if not revocations:
        return announced
    await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_ID)
    rows = await conn.fetch(
        "INSERT INTO revocation_events (message) SELECT m FROM unnest($1::text[]) WITH ORDINALITY AS t(m, i) "
        "ORDER BY i RETURNING seq, message",
        revocations,
    )
    numbers = iter(sorted((row["seq"], row["message"]) for row in rows))
    out = []
    for message in announced:
        if messages.parse(message).kind in messages.REVOCATIONS:
            seq, stored = next(numbers)
            assert stored == message
            out.append(messages.numbered(seq, message))
        else:
            out.append(message)
    return out


async def latest(db: Executor) -> int:
    """The highest number drawn so far (0: none)."""
    return int(await db.fetchval("SELECT coalesce(max(seq), 0) FROM revocation_events"))


async def after(db: Executor, sequence: int, limit: int) -> list[str] | None:
    """The numbered messages after `sequence`, in order; None when they cannot all be had (more
    than `limit`, or some already forgotten)."""
    oldest = await db.fetchval("SELECT min(seq) FROM revocation_events")
    if oldest is not None and oldest > sequence + 1:
        return None  # forgotten, or a gap a rollback left: either way, completeness cannot be shown
    rows = await db.fetch(
        "SELECT seq, message FROM revocation_events WHERE seq > $1 ORDER BY seq LIMIT $2", sequence, limit + 1
    )
    if len(rows) > limit:
        return None
    return [messages.numbered(row["seq"], row["message"]) for row in rows]


async def forget_old(db: Executor, now: datetime) -> None:
    """Forgets revocations older than a day, but never the latest: it tells where numbers are."""
    await db.execute(
        "DELETE FROM revocation_events WHERE created_at < $1 "
        "AND seq < (SELECT max(seq) FROM revocation_events)",
        now - KEPT,
    )
