"""A key committed by another replica is accepted the moment its creator hears of the commit, even
before this replica's listener has delivered the creation notice; made-up keys stay refused, and
many of them at once share a few catch-up markers (docs/security.md, "API-key lookups")."""

from __future__ import annotations

import asyncio

from authsvc.adapters.database import Database
from authsvc.adapters.pg_api_keys import BatchedUsageRecorder
from authsvc.bootstrap import build_services
from authsvc.config import Settings
from authsvc.domain import api_key_format
from authsvc.domain.errors import AuthError, ErrorCode
from tests.conftest import TEST_SECRET, AccountFactory, ServerFactory
from tests.support.clock import FakeClock


async def test_a_key_made_on_another_replica_is_accepted_at_once(
    start_authsvc: ServerFactory, make_account: AccountFactory, settings: Settings, database: Database
) -> None:
    here = await start_authsvc()
    async with asyncio.timeout(10):
        while not here.cache.index_complete:
            await asyncio.sleep(0.02)
    # The other replica: it commits and returns without waiting for any listener, as fast as a
    # creation can reach a client.
    elsewhere = build_services(settings, database, TEST_SECRET, FakeClock(), BatchedUsageRecorder(database))
    account = await make_account("admin")
    pair = await elsewhere.sessions.login(account.email, account.password, "127.0.0.1")
    caller = await elsewhere.authenticator.validate(pair.access_token)
    for n in range(30):
        record, secret = await elsewhere.api_keys.create(caller, f"key {n}", ["geofences:read"], "test")
        principal = await here.services.authenticator.validate(secret)  # no await in between
        assert principal.api_key_id == record.id


async def test_made_up_keys_stay_refused_and_share_their_catch_up(start_authsvc: ServerFactory) -> None:
    here = await start_authsvc()
    async with asyncio.timeout(10):  # the live digests read: refusals come from memory from now on
        while not here.cache.index_complete:
            await asyncio.sleep(0.02)
    made_up = [api_key_format.generate("live") for _ in range(300)]
    outcomes = await asyncio.gather(
        *(here.services.authenticator.validate(key) for key in made_up), return_exceptions=True
    )
    assert all(isinstance(o, AuthError) and o.code is ErrorCode.TOKEN_INVALID for o in outcomes), {
        type(o).__name__ for o in outcomes
    }
    # One marker for the first, one for all who came while it was out (a third at most, should
    # the first come back before all 300 asked).
    assert 1 <= here.sync.markers_sent <= 3
