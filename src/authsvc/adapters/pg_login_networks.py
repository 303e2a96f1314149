"""The networks each account logged in from, in PostgreSQL (as digests: emails and IPs are
personal data, and nothing needs them back)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from authsvc.adapters.database import Database


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class PgLoginNetworks:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def last_success(self, account: str, network: str, since: datetime) -> datetime | None:
        found: datetime | None = await self._db.fetchval(
            "SELECT last_success_at FROM login_networks "
            "WHERE account = $1 AND network = $2 AND last_success_at >= $3",
            _digest(account),
            _digest(network),
            since,
        )
        return found

    async def remember(self, account: str, network: str, at: datetime) -> None:
        await self._db.execute(
            "INSERT INTO login_networks (account, network, last_success_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (account, network) DO UPDATE "
            "SET last_success_at = greatest(login_networks.last_success_at, EXCLUDED.last_success_at)",
            _digest(account),
            _digest(network),
            at,
        )

    async def forget_before(self, cutoff: datetime) -> None:
        await self._db.execute("DELETE FROM login_networks WHERE last_success_at < $1", cutoff)
