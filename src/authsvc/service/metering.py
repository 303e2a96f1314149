"""Charging API requests to the limits of a key and of its workspace's plan."""

from __future__ import annotations

import time

from authsvc.domain.errors import AuthError, ErrorCode, invalid_argument
from authsvc.domain.plans import Budget, BudgetState, Limits, Plans, budget
from authsvc.domain.principal import Principal, PrincipalKind
from authsvc.service.ports import Clock, Meter, UsageRecorder, WorkspacePlans

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
        # Each principal's budgets, worked out once a minute at most: a charge is a hot path.
        # `forget` empties it when a workspace changes plans.
        self._budgets: dict[Principal, tuple[list[Budget], float]] = {}

    async def plan_limits(self, workspace_id: str) -> Limits:
        """The limits of the workspace's plan."""
        return self._plans.of(await self._workspace_plans.plan_of(workspace_id))

    async def budgets(self, principal: Principal) -> list[Budget]:
        """What a request by `principal` counts against: its workspace's plan, and for an API key
        with limits of its own, those too."""
        known = self._budgets.get(principal)
        if known is not None and known[1] > time.monotonic():
            return known[0]
        workspace = principal.workspace_id
        plan = await self.plan_limits(workspace)
        found = [
            budget(f"workspace-{w}", f"workspace:{workspace}", w, n) for w, n in plan.by_window().items()
        ]
        if principal.kind is PrincipalKind.API_KEY and principal.key_limits is not None:
            key = f"key:{principal.api_key_id}"
            found += [budget(f"key-{w}", key, w, n) for w, n in principal.key_limits.by_window().items()]
        if len(self._budgets) >= _MAX_REMEMBERED:
            self._budgets.clear()
        self._budgets[principal] = (found, time.monotonic() + REMEMBER_SECONDS)
        return found

    def forget(self, workspace_id: str) -> None:
        """A workspace changed plans: work every principal's budgets out again."""
        self._budgets.clear()

    async def charge(self, principal: Principal, cost: int) -> tuple[BudgetState, ...]:
        """Charges `cost` requests to every budget of `principal`, all or none: RATE_LIMITED
        (with the wait and each budget's state) when any of them is spent for its window."""
        if not 0 < cost <= MAX_COST:
            raise invalid_argument(f"cost must be between 0 and {MAX_COST}")
        known = self._budgets.get(principal)
        budgets = (
            known[0] if known is not None and known[1] > time.monotonic() else await self.budgets(principal)
        )
        now = self._clock.now()
        states: tuple[BudgetState, ...] = ()
        for limit in budgets:
            if cost > limit.limit:  # could never pass: say so, and draw nothing for it
                raise invalid_argument(f"cost {cost} is more than the {limit.policy} limit ({limit.limit})")
        if budgets:
            spent = await self._meter.spend(budgets, cost, now)
            if not spent.allowed:
                raise AuthError(ErrorCode.RATE_LIMITED, retry_after=spent.retry_after, limits=spent.states)
            states = spent.states
        if self._usage is not None and principal.api_key_id is not None:
            self._usage.count_requests(principal.api_key_id, now, cost)
        return states
