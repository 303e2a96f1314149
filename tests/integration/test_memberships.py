"""Memberships on PostgreSQL, where concurrency decides: two removals of one user (from two of
their workspaces) at once leave exactly the third, whatever their order."""

from __future__ import annotations

import asyncio
import uuid

from authsvc.adapters.database import Database
from authsvc.adapters.pg_unit_of_work import PgUnitOfWork
from tests.conftest import AccountFactory, Running


async def test_a_removal_waits_for_a_concurrent_one_and_neither_brings_the_other_back(
    authsvc: Running, make_account: AccountFactory, database: Database
) -> None:
    home, second, third = [await make_account("admin") for _ in range(3)]
    user = await make_account("member", workspace=home.workspace)
    for other in (second, third):
        authsvc.clock.advance(1)
        await authsvc.services.users.add_to_workspace(user.email, "viewer", other.workspace)
    now = authsvc.clock.now()

    async with PgUnitOfWork(database) as from_second:
        await from_second.members.remove(user.user_id, second.workspace_id, now)  # not committed yet

        async def from_home() -> None:
            async with PgUnitOfWork(database) as uow:
                await uow.members.remove(user.user_id, home.workspace_id, now)
                await uow.commit()

        racing = asyncio.create_task(from_home())
        await asyncio.sleep(0.5)  # it reads, or waits for, what the first has not committed
        await from_second.commit()
    await asyncio.wait_for(racing, 10)

    uid = uuid.UUID(user.user_id)
    left = await database.fetch("SELECT workspace_id FROM memberships WHERE user_id = $1", uid)
    assert [str(r["workspace_id"]) for r in left] == [third.workspace_id]
    mirror = await database.fetchval("SELECT workspace_id FROM users WHERE id = $1", uid)
    assert str(mirror) == third.workspace_id  # the previous release's view: the one left
