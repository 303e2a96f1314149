"""What the sweeper forgets, so no table grows without end: rows past any use, a margin after.

- mail in the outbox a week after it was sent or given up (its sealed message went at once);
- password reset tokens a day after they expired (a token is refused by its expiry first);
- invitations 30 days after they expired, whatever became of them;
- refresh tokens a day after they expired: an expired refresh token is refused when its JWT is
  read, before any lookup, so its row serves nothing (reuse detection included);
- audit events older than the retention (AUTHSVC_AUDIT_RETENTION_DAYS; 0 keeps them all).

The large tables go a batch per sweep, so one sweep never holds locks or I/O for long.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from authsvc.adapters.database import Executor

SETTLED_MAIL = timedelta(days=7)
DEAD_TOKENS = timedelta(days=1)
CLOSED_INVITATIONS = timedelta(days=30)
BATCH = 10_000


async def forget_spent(db: Executor, now: datetime, audit_retention_days: int) -> None:
    await db.execute("DELETE FROM mail_outbox WHERE coalesce(sent_at, given_up_at) < $1", now - SETTLED_MAIL)
    await db.execute("DELETE FROM password_reset_tokens WHERE expires_at < $1", now - DEAD_TOKENS)
    await db.execute("DELETE FROM invitations WHERE expires_at < $1", now - CLOSED_INVITATIONS)
    await db.execute(
        "DELETE FROM refresh_tokens WHERE jti IN "
        "(SELECT jti FROM refresh_tokens WHERE expires_at < $1 LIMIT $2)",
        now - DEAD_TOKENS,
        BATCH,
    )
    if audit_retention_days:
        await db.execute(
            "DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE at < $1 LIMIT $2)",
            now - timedelta(days=audit_retention_days),
            BATCH,
        )
