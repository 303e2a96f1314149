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
from authsvc.domain.plans import Budget, BudgetState
from authsvc.service.ports import Spent

log = logging.getLogger(__name__)
MAX_LEASES = 50_000  # beyond, the leases of ended windows are forgotten
KEEP_WINDOWS = timedelta(days=2)  # counts older than this are deleted by `forget_old_windows`
_Key = tuple[str, str, int]  # subject, window, window start (epoch seconds)


class _Lease:
    """What this replica holds of one budget's count for one window."""

    __slots__ = ("budget", "end", "exhausted", "granted", "key", "low", "remaining")

    def __init__(self, budget: Budget, key: _Key) -> None:
        self.budget = budget  # as last seen: a plan or key may change its limit mid-window
        self.key = key
        self.end = key[2] + budget.seconds  # when the window ends (epoch seconds)
        self.low = budget.lease // 2  # below this, a top-up is drawn ahead in the background
        self.remaining = 0  # what this replica may still spend
        self.granted = 0  # the window's total drawn, by every replica, as of this replica's last draw
        self.exhausted = False  # the cap is all drawn: refuse without asking

    def follow(self, budget: Budget) -> None:
        """The budget's limit changed mid-window: a higher one may be drawn from again, a lower
        one keeps this replica from spending what it drew beyond it."""
        limit = budget.limit
        if limit > self.budget.limit:
            self.exhausted = False
        else:
            self.remaining = max(0, min(self.remaining, limit - self.granted + self.remaining))
        self.budget = budget
        self.low = budget.lease // 2


class _Ticket:
    """One principal's budgets and the leases of their current windows. A charge while every
    lease holds enough touches nothing else: no lookup, no round trip, no await.

    A refusal is kept until the second or the cost changes, or anything is spent or drawn on this
    replica (LeasedMeter.changes): a spent key's refusals are a hot path too."""

    __slots__ = ("_fixed", "_meter", "_refusal", "budgets", "leases", "turns")

    def __init__(self, meter: LeasedMeter, budgets: Sequence[Budget]) -> None:
        self._meter = meter
        self.budgets = tuple(budgets)
        self._fixed = tuple((b.policy, b.limit, b.seconds) for b in self.budgets)  # what _states reads
        self.leases: tuple[_Lease, ...] = ()
        self.turns = -math.inf  # when the first of the leases' windows ends: bind again then
        self._refusal: tuple[int, int, int, Spent] | None = None  # second, cost, changes, answer

    def take(self, cost: int, moment: float) -> Spent | None:
        if moment >= self.turns:
            return None
        leases = self.leases
        short = False
        for lease in leases:
            if lease.remaining < cost:
                if lease.exhausted:  # its window is all given out: refused, nothing taken
                    return self._refused(cost, moment)
                short = True
        if short:
            return None
        meter = self._meter
        meter.changes += 1
        for lease in leases:
            lease.remaining -= cost
            if lease.remaining < lease.low and not lease.exhausted:
                meter.top_up(lease)
        return Spent(True, self._states(moment))

    def hold(self, leases: Sequence[_Lease]) -> None:
        """The leases of the windows now current, one per budget."""
        self.leases = tuple(leases)
        self.turns = min((lease.end for lease in self.leases), default=math.inf)
        self._refusal = None

    async def spend(self, cost: int, moment: float) -> Spent:
        while True:  # each turn binds, draws (the caps bound how often) or waits for a draw
            spent = self.take(cost, moment)
            if spent is not None:
                return spent
            await self._meter.fill(self, cost, moment)

    def _states(self, moment: float) -> tuple[BudgetState, ...]:
        ceil, new = math.ceil, tuple.__new__  # BudgetState's own __new__ is one Python call more
        states = []
        for (policy, limit, seconds), lease in zip(self._fixed, self.leases):  # noqa: B905 (same length)
            left = limit - lease.granted + lease.remaining
            reset = ceil(lease.end - moment)
            left = 0 if left < 0 else limit if left > limit else left
            states.append(new(BudgetState, (policy, limit, left, reset if reset > 1 else 1, seconds)))
        return tuple(states)

    def _refused(self, cost: int, moment: float) -> Spent:
        second, changes = int(moment), self._meter.changes
        known = self._refusal
        if known is not None and known[0] == second and known[1] == cost and known[2] == changes:
            return known[3]
        states = self._states(moment)
        wait = max(
            state.reset_seconds
            for state, lease in zip(states, self.leases, strict=True)
            if lease.remaining < cost
        )
        refused = Spent(False, states, wait)
        self._refusal = (second, cost, changes, refused)
        return refused


class LeasedMeter:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._leases: dict[_Key, _Lease] = {}
        # The draw on its way for a budget, if any: requests that run short meanwhile wait for it
        # instead of drawing again, so a replica never holds more than its lease and one top-up.
        self._drawing: dict[_Key, asyncio.Task[None]] = {}
        self.changes = 0  # counts every spend, draw and bind: a refusal worked out before is stale

    def ticket(self, budgets: Sequence[Budget]) -> _Ticket:
        return _Ticket(self, budgets)

    def top_up(self, lease: _Lease) -> None:
        """Draws another lease ahead, in the background, unless one is on its way."""
        if lease.key not in self._drawing:
            self._start_draw([(lease.budget, lease.key, lease.budget.lease)])

    async def fill(self, ticket: _Ticket, cost: int, moment: float) -> None:
        """Binds `ticket` to the windows of `moment`, then draws each lease short of `cost` (or
        waits for the draw on its way), unless its window is all given out."""
        if moment >= ticket.turns:
            self._bind(ticket, moment)
        short = [lease for lease in ticket.leases if lease.remaining < cost and not lease.exhausted]
        if not short:
            return
        on_the_way = {self._drawing[lease.key] for lease in short if lease.key in self._drawing}
        wanted = [
            (lease.budget, lease.key, max(cost - lease.remaining, lease.budget.lease))
            for lease in short
            if lease.key not in self._drawing
        ]
        if wanted:
            on_the_way.add(self._start_draw(wanted))
        await asyncio.gather(*(asyncio.shield(draw) for draw in on_the_way))

    def _bind(self, ticket: _Ticket, moment: float) -> None:
        if len(self._leases) > MAX_LEASES:
            self.prune(moment)
        leases = []
        for budget in ticket.budgets:
            key = (budget.subject, budget.window, int(moment // budget.seconds) * budget.seconds)
            lease = self._leases.get(key)
            if lease is None:
                lease = self._leases[key] = _Lease(budget, key)
            elif lease.budget.limit != budget.limit:
                lease.follow(budget)
            leases.append(lease)
        self.changes += 1
        ticket.hold(leases)

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
        asked = {key: (budget, amount) for budget, key, amount in ordered}
        for row in rows:
            key = (row["subject"], row["window_name"], row["start"])
            budget, amount = asked[key]
            lease = self._leases.get(key)
            if lease is None:  # forgotten meanwhile (prune): what was granted is held all the same
                lease = self._leases[key] = _Lease(budget, key)
            lease.remaining += row["last_grant"]
            lease.granted = max(lease.granted, row["granted"])
            if row["last_grant"] < amount:
                lease.exhausted = True
        self.changes += 1

    def prune(self, moment: float) -> None:
        """Forgets the leases of windows that have ended (what they held is lost to them anyway)."""
        for key in [key for key, lease in self._leases.items() if lease.end <= moment]:
            del self._leases[key]


async def forget_old_windows(db: Database, now: datetime) -> None:
    """Deletes the counts of windows long over."""
    await db.execute("DELETE FROM usage_leases WHERE window_start < $1", now - KEEP_WINDOWS)
