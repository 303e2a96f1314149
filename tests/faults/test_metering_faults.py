"""PostgreSQL stopped under metering: a replica spends the leases it holds, then fails closed."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path

import pytest

from authsvc.adapters.database import Database
from authsvc.adapters.migrations import migrate
from authsvc.adapters.pg_workspace_plans import PgWorkspacePlans
from authsvc.adapters.usage_leases import LeasedMeter
from authsvc.domain.errors import AuthError, ErrorCode
from authsvc.domain.plans import Limits, parse_plans
from authsvc.domain.principal import Principal, PrincipalKind
from authsvc.service.metering import Metering
from tests.faults.test_database_faults import StoppablePostgres
from tests.support.clock import FakeClock

PLANS = 'default = "free"\n[plans.free]\nrequests_per_minute = 1000\n'


async def test_held_leases_are_spent_then_charges_fail_closed_until_postgres_is_back() -> None:
    key_id = str(uuid.uuid4())
    principal = Principal(
        kind=PrincipalKind.API_KEY,
        subject_id=key_id,
        user_id=str(uuid.uuid4()),
        workspace_id=str(uuid.uuid4()),
        permissions=frozenset(),
        api_key_id=key_id,
        key_limits=Limits(per_minute=100),  # leases of 5; the plan's of 50
    )
    clock = FakeClock()
    clock.advance(61 - clock.timestamp() % 60)  # a second into a minute: one window throughout
    with tempfile.TemporaryDirectory(prefix="authsvc-fault-") as folder:
        postgres = await asyncio.to_thread(StoppablePostgres, Path(folder))
        database = await Database.connect(postgres.dsn, min_size=1, max_size=2)
        try:
            async with database.connection() as conn:
                await migrate(conn)
            metering = Metering(LeasedMeter(database), parse_plans(PLANS), PgWorkspacePlans(database), clock)
            await metering.charge(principal, 1)  # draws the key's lease of 5 and the plan's of 50

            await asyncio.to_thread(postgres.stop)
            admitted = 0
            with pytest.raises(AuthError) as refused:
                for _ in range(100):
                    await metering.charge(principal, 1)
                    admitted += 1
            assert refused.value.code is ErrorCode.UNAVAILABLE  # never admitted without a budget
            assert admitted == 4  # the rest of the key's lease, and not one more

            await asyncio.to_thread(postgres.start)
            for _ in range(75):  # the pool replaces its dead connections by itself
                try:
                    states = await metering.charge(principal, 1)
                    break
                except AuthError as error:
                    assert error.code is ErrorCode.UNAVAILABLE
                    await asyncio.sleep(0.2)
            else:
                pytest.fail("charges did not recover")
            assert {s.policy: s.remaining for s in states}["key-minute"] == 100 - 1 - 4 - 1
        finally:
            await database.close()
            await asyncio.to_thread(postgres.stop)
