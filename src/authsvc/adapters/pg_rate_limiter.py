"""GCRA rate limiting in PostgreSQL: one atomic statement per check, shared by every replica.

The decision and the state change happen in a single INSERT ... ON CONFLICT DO UPDATE under the
row lock, so concurrent requests on any replica can never both take the last slot. Time is the
database's clock, the one every replica shares. If PostgreSQL cannot be reached the check raises
UNAVAILABLE: the limiter fails closed, never open.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from authsvc.adapters.database import Executor
from authsvc.domain.rate_limits import RateDecision, RateLimit, retry_after_seconds

_HIT = """
INSERT INTO rate_limits AS r (key, tat, allowed)
VALUES ($1, statement_timestamp() + $2::interval, true)
ON CONFLICT (key) DO UPDATE SET
    allowed = greatest(r.tat, statement_timestamp()) - statement_timestamp() <= $3::interval,
    tat = CASE
        WHEN greatest(r.tat, statement_timestamp()) - statement_timestamp() <= $3::interval
        THEN greatest(r.tat, statement_timestamp()) + $2::interval
        ELSE r.tat
    END
RETURNING allowed, tat - statement_timestamp() AS ahead
"""

_REFUND = "UPDATE rate_limits SET tat = tat - $2::interval WHERE key = $1"


def _key(name: str) -> bytes:
    # Keys hold emails and IPs: store a digest, not the personal data.
    return hashlib.sha256(name.encode("utf-8")).digest()


class PgRateLimiter:
    """On the pool, or inside a unit of work: then a hit commits, or rolls back, with the rest."""

    def __init__(self, db: Executor) -> None:
        self._db = db

    async def hit(self, name: str, limit: RateLimit) -> RateDecision:
        row = await self._db.fetchrow(_HIT, _key(name), limit.emission_interval, limit.tolerance)
        assert row is not None
        if row["allowed"]:
            return RateDecision(True, 0)
        ahead: timedelta = row["ahead"]
        return RateDecision(False, retry_after_seconds(ahead, limit))

    async def refund(self, name: str, limit: RateLimit) -> None:
        """Gives back one hit (e.g. a successful login does not count as a failure)."""
        await self._db.execute(_REFUND, _key(name), limit.emission_interval)

    async def forget_expired(self) -> None:
        await self._db.execute("DELETE FROM rate_limits WHERE tat < statement_timestamp()")
