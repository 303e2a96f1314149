"""Which plan each workspace is on: read from PostgreSQL on a workspace's first charged request,
then kept in memory, forgotten when `authsvc workspace set-plan` announces a change (and after
`ttl` seconds whatever happens, should an announcement be missed)."""

from __future__ import annotations

import time
from collections.abc import Callable

from authsvc.adapters import invalidation_messages as messages
from authsvc.adapters.database import Database
from authsvc.adapters.ids import parse_uuid
from authsvc.adapters.invalidation import notify

PLAN_TTL_SECONDS = 60.0


class PgWorkspacePlans:
    def __init__(
        self, db: Database, ttl: float = PLAN_TTL_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._db = db
        self._ttl = ttl
        self._clock = clock
        self._known: dict[str, tuple[str | None, float]] = {}

    async def plan_of(self, workspace_id: str) -> str | None:
        known = self._known.get(workspace_id)
        if known is not None and self._clock() - known[1] < self._ttl:
            return known[0]
        wid = parse_uuid(workspace_id)
        plan = await self._db.fetchval("SELECT plan FROM workspaces WHERE id = $1", wid) if wid else None
        if len(self._known) >= 100_000:
            self._known.clear()
        self._known[workspace_id] = (plan, self._clock())
        return str(plan) if plan is not None else None

    def forget(self, workspace_id: str) -> None:
        self._known.pop(workspace_id, None)


async def set_plan(db: Database, workspace: str, plan: str) -> bool:
    """Puts the workspace (by name) on `plan` and tells every replica; False if there is no such
    workspace."""
    async with db.transaction() as conn:
        wid = await conn.fetchval(
            "UPDATE workspaces SET plan = $2 WHERE name = $1 RETURNING id", workspace, plan
        )
        if wid is None:
            return False
        await notify(conn, messages.workspace_plan_changed(wid))
    return True
