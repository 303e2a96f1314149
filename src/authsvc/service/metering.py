"""Charging API requests to the limits of a key and of its workspace's plan."""

from __future__ import annotations

from authsvc.domain.errors import AuthError, ErrorCode, invalid_argument
from authsvc.domain.plans import Budget, BudgetState, Limits, Plans
from authsvc.domain.principal import Principal, PrincipalKind
from authsvc.service.ports import Clock, Meter, UsageRecorder, WorkspacePlans

MAX_COST = 1000  # requests one check may charge


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

    async def plan_limits(self, workspace_id: str) -> Limits:
        """The limits of the workspace's plan."""
        return self._plans.of(await self._workspace_plans.plan_of(workspace_id))

    async def budgets(self, principal: Principal) -> list[Budget]:
        """What a request by `principal` counts against: its workspace's plan, and for an API key
        with limits of its own, those too."""
        workspace = principal.workspace_id
        plan = await self.plan_limits(workspace)
        budgets = [
            Budget(f"workspace-{w}", f"workspace:{workspace}", w, n) for w, n in plan.by_window().items()
        ]
        if principal.kind is PrincipalKind.API_KEY and principal.key_limits is not None:
            key = f"key:{principal.api_key_id}"
            budgets += [Budget(f"key-{w}", key, w, n) for w, n in principal.key_limits.by_window().items()]
        return budgets

    async def charge(self, principal: Principal, cost: int) -> tuple[BudgetState, ...]:
        """Charges `cost` requests to every budget of `principal`, all or none: RATE_LIMITED
        (with the wait and each budget's state) when any of them is spent for its window."""
        if not 0 < cost <= MAX_COST:
            raise invalid_argument(f"cost must be between 0 and {MAX_COST}")
        budgets = await self.budgets(principal)
        now = self._clock.now()
        states: tuple[BudgetState, ...] = ()
        if budgets:
            spent = await self._meter.spend(budgets, cost, now)
            if not spent.allowed:
                raise AuthError(ErrorCode.RATE_LIMITED, retry_after=spent.retry_after, limits=spent.states)
            states = spent.states
        if self._usage is not None and principal.api_key_id is not None:
            self._usage.count_requests(principal.api_key_id, now, cost)
        return states
