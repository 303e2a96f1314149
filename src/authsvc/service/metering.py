"""Charging API requests to the limits of a key and of its workspace's plan."""

from __future__ import annotations

import time

from authsvc.domain.errors import AuthError, ErrorCode, invalid_argument
from authsvc.domain.plans import Budget, BudgetState, Limits, Plans, budget
from authsvc.domain.principal import Principal, PrincipalKind
from authsvc.service.ports import Clock, Meter, MeterTicket, Spent, UsageRecorder, WorkspacePlans

MAX_COST = 1000  # requests one check may charge
REMEMBER_SECONDS = 60.0  # a missed plan-change notice is made good within this
_MAX_REMEMBERED = 100_000


class Metering:
    def __init__(
        self,
        meter: Meter,
        plans: Plans,
        workspace_plans: WorkspacePlans,
        clock: Clock,
        usage: UsageRecorder | None = None,
    ) -> None:
        self._usage = usage
        self._meter = meter
        self._plans = plans
        self._workspace_plans = workspace_plans
        self._clock = clock
        # Each principal's budgets as the meter holds them, worked out once a minute at most: a
        # charge is a hot path. `forget` empties it when a workspace changes plans.
        # Each entry: the ticket, until when it holds (monotonic), the most one charge may cost.
        self._tickets: dict[Principal, tuple[MeterTicket, float, int]] = {}

    async def plan_limits(self, workspace_id: str) -> Limits:
        """The limits of the workspace's plan."""
        return self._plans.of(await self._workspace_plans.plan_of(workspace_id))

    async def budgets(self, principal: Principal) -> list[Budget]:
        """What a request by `principal` counts against: its workspace's plan, and for an API key
        with limits of its own, those too."""
        workspace = principal.workspace_id
        plan = await self.plan_limits(workspace)
        found = [
            budget(f"workspace-{w}", f"workspace:{workspace}", w, n) for w, n in plan.by_window().items()
        ]
        if principal.kind is PrincipalKind.API_KEY and principal.key_limits is not None:
            key = f"key:{principal.api_key_id}"
            found += [budget(f"key-{w}", key, w, n) for w, n in principal.key_limits.by_window().items()]
        return found

    def forget(self, workspace_id: str) -> None:
        """A workspace changed plans: work every principal's budgets out again."""
        self._tickets.clear()

    def charge_now(self, principal: Principal, cost: int) -> tuple[BudgetState, ...] | None:
        """`charge`, when memory alone can decide it (nearly always): no await on the hot path.
        None when it cannot: a draw, a plan to look up, or a cost to refuse (`charge` says why)."""
        known = self._tickets.get(principal)
        if known is None or not 0 < cost <= known[2] or known[1] <= time.monotonic():
            return None
        moment = self._clock.timestamp()
        spent = known[0].take(cost, moment)
        return None if spent is None else self._settle(principal, spent, cost, moment)

    async def charge(self, principal: Principal, cost: int) -> tuple[BudgetState, ...]:
        """Charges `cost` requests to every budget of `principal`, all or none: RATE_LIMITED
        (with the wait and each budget's state) when any of them is spent for its window."""
        if not 0 < cost <= MAX_COST:
            raise invalid_argument(f"cost must be between 0 and {MAX_COST}")
        known = self._tickets.get(principal)
        if known is None or known[1] <= time.monotonic():
            known = await self._ticket(principal)
        ticket, _, most = known
        if cost > most:
            self._refuse_cost(ticket, cost)
        moment = self._clock.timestamp()
        spent = ticket.take(cost, moment)
        if spent is None:
            spent = await ticket.spend(cost, moment)
        return self._settle(principal, spent, cost, moment)

    def _settle(
        self, principal: Principal, spent: Spent, cost: int, moment: float
    ) -> tuple[BudgetState, ...]:
        if not spent.allowed:
            raise AuthError(ErrorCode.RATE_LIMITED, retry_after=spent.retry_after, limits=spent.states)
        if self._usage is not None and principal.api_key_id is not None:
            self._usage.count_requests(principal.api_key_id, moment, cost)
        return spent.states

    async def _ticket(self, principal: Principal) -> tuple[MeterTicket, float, int]:
        budgets = await self.budgets(principal)
        most = min([limit.limit for limit in budgets if limit.limit < MAX_COST], default=MAX_COST)
        known = (self._meter.ticket(budgets), time.monotonic() + REMEMBER_SECONDS, most)
        if len(self._tickets) >= _MAX_REMEMBERED:
            self._tickets.clear()
        self._tickets[principal] = known
        return known

    @staticmethod
    def _refuse_cost(ticket: MeterTicket, cost: int) -> None:
        """A cost that could never pass: said so, and nothing drawn for it."""
        for limit in ticket.budgets:
            if cost > limit.limit:
                raise invalid_argument(f"cost {cost} is more than the {limit.policy} limit ({limit.limit})")
