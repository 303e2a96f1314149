"""The request meter: each budget's count per window lives in PostgreSQL (`usage_leases`), and
each replica draws slices of it ("leases") and spends them in memory.

A request costs no round trip while its replica's leases last; a lease running low is topped up
in the background, and one that runs out is drawn again in the request (about once per lease).
What a draw grants is counted against the window's cap at once, so the replicas together never
admit more than the limit. The other way round, tokens a replica drew but did not spend are lost
to the window: at most 2 leases per replica per budget (its lease and the top-up it drew ahead),
so a window admits at least limit - 2 x lease x replicas when every replica keeps being asked,
and a replica killed with -9 loses at most its 2 leases of its current windows. A lease is a
twentieth of the limit, at most 10,000: 5 of a 100/min key, 10,000 of a generous plan.

Once a draw grants less than asked, the window's cap is all given out: the replica refuses
without asking again until the window moves.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from authsvc.adapters.database import Database
from authsvc.domain.plans import WINDOWS, Budget, BudgetState
from authsvc.service.ports import Spent

log = logging.getLogger(__name__)
MAX_LEASES = 50_000  # beyond, the leases of ended windows are forgotten
KEEP_WINDOWS = timedelta(days=2)  # counts older than this are deleted by `forget_old_windows`
_Key = tuple[str, str, int]  # subject, window, window start (epoch seconds)


class _Lease:
    __slots__ = ("exhausted", "granted", "limit", "remaining")

    def __init__(self, limit: int) -> None:
        self.limit = limit  # the budget's limit when last seen (a plan or key may change it)
        self.remaining = 0  # what this replica may still spend
        self.granted = 0  # the window's total drawn, by every replica, as of this replica's last draw
        self.exhausted = False  # the cap is all drawn: refuse without asking

    def follow(self, limit: int) -> None:
        """The budget's limit changed mid-window: a higher one may be drawn from again, a lower
        one keeps this replica from spending what it drew beyond it."""
        if limit > self.limit:
            self.exhausted = False
        else:
            self.remaining = max(0, min(self.remaining, limit - self.granted + self.remaining))
        self.limit = limit


class LeasedMeter:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._leases: dict[_Key, _Lease] = {}
        # The draw on its way for a budget, if any: requests that run short meanwhile wait for it
        # instead of drawing again, so a replica never holds more than its lease and one top-up.
        self._drawing: dict[_Key, asyncio.Task[None]] = {}

    async def spend(self, budgets: Sequence[Budget], cost: int, now: datetime) -> Spent:
        moment = now.timestamp()
        keys = [(b.subject, b.window, int(moment // b.seconds) * b.seconds) for b in budgets]
        held: Sequence[_Lease | None] = [self._leases.get(key) for key in keys]
        if not all(
            lease is not None and lease.remaining >= cost and lease.limit == budget.limit
            for lease, budget in zip(held, budgets, strict=True)
        ):
            held = await self._draw_short(budgets, keys, cost, moment)
        return self._take(budgets, keys, held, cost, moment)

    def _take(
        self,
        budgets: Sequence[Budget],
        keys: Sequence[_Key],
        held: Sequence[_Lease | None],
        cost: int,
        moment: float,
    ) -> Spent:
        allowed = all(lease.remaining >= cost for lease in held)  # type: ignore[union-attr]
        states = []
        wait = 0
        for budget, key, lease in zip(budgets, keys, held, strict=True):
            assert lease is not None
            if allowed:
                lease.remaining -= cost
                if lease.remaining < budget.lease // 2 and not lease.exhausted and key not in self._drawing:
                    self._start_draw([(budget, key, budget.lease)])  # top up ahead, in the background
            reset = max(1, math.ceil(key[2] + budget.seconds - moment))
            left = max(0, min(budget.limit, budget.limit - lease.granted + lease.remaining))
            states.append(BudgetState(budget.policy, budget.limit, left, reset, budget.seconds))
            if lease.remaining < cost and not allowed:
                wait = max(wait, reset)
        return Spent(allowed, tuple(states), wait)

    async def _draw_short(
        self, budgets: Sequence[Budget], keys: Sequence[_Key], cost: int, moment: float
    ) -> list[_Lease]:
        """The leases of `budgets`, each drawn until it holds `cost` or its window is all given out."""
        if len(self._leases) > MAX_LEASES:
            self.prune(moment)
        while True:  # each turn draws (the caps bound how often) or waits for a draw on its way
            held = [
                self._leases.setdefault(key, _Lease(budget.limit))
                for key, budget in zip(keys, budgets, strict=True)
            ]
            for lease, budget in zip(held, budgets, strict=True):
                if lease.limit != budget.limit:
                    lease.follow(budget.limit)
            short = [
                (budget, key, lease)
                for budget, key, lease in zip(budgets, keys, held, strict=True)
                if lease.remaining < cost and not lease.exhausted
            ]
            if not short:
                return held
            on_the_way = {self._drawing[key] for _, key, _ in short if key in self._drawing}
            wanted = [
                (budget, key, max(cost - lease.remaining, budget.lease))
                for budget, key, lease in short
                if key not in self._drawing
            ]
            if wanted:
                on_the_way.add(self._start_draw(wanted))
            await asyncio.gather(*(asyncio.shield(draw) for draw in on_the_way))

    def _start_draw(self, wanted: Sequence[tuple[Budget, _Key, int]]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(self._draw(wanted))
        keys = [key for _, key, _ in wanted]
        for key in keys:
            self._drawing[key] = task

        def done(finished: asyncio.Task[None]) -> None:
            for key in keys:
                if self._drawing.get(key) is finished:
                    del self._drawing[key]
            if not finished.cancelled() and finished.exception() is not None:
                # Requests waiting on it fail (closed); a top-up nobody waited for is only logged.
                log.warning("could not draw request budget: %s", type(finished.exception()).__name__)

        task.add_done_callback(done)
        return task

    async def _draw(self, wanted: Sequence[tuple[Budget, _Key, int]]) -> None:
        """Draws every wanted amount in one statement, in key order (no two replicas' draws can
        deadlock), each capped by what its window has left."""
        ordered = sorted(wanted, key=lambda item: item[1])
        rows = await self._db.fetch(
            "INSERT INTO usage_leases AS u (subject, window_name, window_start, cap, granted, last_grant) "
            "SELECT s, w, to_timestamp(t), c, LEAST(a, c), LEAST(a, c) "
            "FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[]) "
            "AS v(s, w, t, a, c) "
            "ON CONFLICT (subject, window_name, window_start) DO UPDATE SET "
            "last_grant = LEAST(EXCLUDED.last_grant, GREATEST(EXCLUDED.cap - u.granted, 0)), "
            "granted = u.granted + LEAST(EXCLUDED.last_grant, GREATEST(EXCLUDED.cap - u.granted, 0)), "
            "cap = EXCLUDED.cap "
            "RETURNING subject, window_name, extract(epoch FROM window_start)::bigint AS start, "
            "granted, last_grant, cap",
            [key[0] for _, key, _ in ordered],
            [key[1] for _, key, _ in ordered],
            [key[2] for _, key, _ in ordered],
            [amount for _, _, amount in ordered],
            [budget.limit for budget, _, _ in ordered],
        )
        asked = {key: amount for _, key, amount in ordered}
        for row in rows:
            key = (row["subject"], row["window_name"], row["start"])
            lease = self._leases.setdefault(key, _Lease(row["cap"]))
            lease.remaining += row["last_grant"]
            lease.granted = max(lease.granted, row["granted"])
            if row["last_grant"] < asked.get(key, 0):
                lease.exhausted = True

    def prune(self, moment: float) -> None:
        """Forgets the leases of windows that have ended (what they held is lost to them anyway)."""
        for key in [key for key in self._leases if key[2] + WINDOWS[key[1]] <= moment]:
            del self._leases[key]


async def forget_old_windows(db: Database, now: datetime) -> None:
    """Deletes the counts of windows long over."""
    await db.execute("DELETE FROM usage_leases WHERE window_start < $1", now - KEEP_WINDOWS)
