"""Unknown API keys cost no lookup (review finding 12).

Before: one unauthenticated ValidateTokens call with 512 well-formed unknown keys (right prefix,
right checksum) made 512 queries. Each replica now holds the digest of every live key, so a key
that matches none is refused from memory, once the replica has caught up with keys committed
elsewhere: a marker it sends itself, shared by every refusal in flight (one statement per round
trip at most, never one per key). The statements are counted by asyncpg's query logger on the
real pool the service runs on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest

from authsvc.adapters.database import Database
from authsvc.domain import api_key_format
from authsvc.v1 import auth_pb2
from tests.conftest import AccountFactory, Running, ServerFactory
from tests.support.grpc_client import bearer, status_of


class CountedPool:
    """A real pool whose every statement is written down."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    async def attach(self, conn: asyncpg.Connection) -> None:
        conn.add_query_logger(lambda record: self.statements.append(record.query))


@pytest.fixture
async def counted(database_url: str) -> AsyncIterator[tuple[Database, CountedPool]]:
    log = CountedPool()
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4, init=log.attach)
    yield Database(pool), log
    await pool.close()


async def _ready(running: Running) -> None:
    """Until the replica's index (live key digests included) has been read."""
    async with asyncio.timeout(10):
        while not running.cache.index_complete:
            await asyncio.sleep(0.02)


async def _unknown_keys(count: int) -> list[str]:
    return [api_key_format.generate("live") for _ in range(count)]


MARKER = "SELECT pg_notify($1, $2)"


def _markers(statements: list[str]) -> int:
    """How many catch-up markers `statements` hold; fails on any other statement but the pool's
    own reset of a returned connection."""
    others = [s for s in statements if s != MARKER and "RESET ALL" not in s]
    assert others == []
    return statements.count(MARKER)


async def test_512_unknown_keys_in_one_call_make_no_query(
    start_authsvc: ServerFactory, counted: tuple[Database, CountedPool]
) -> None:
    db, log = counted
    running = await start_authsvc(db=db)
    await _ready(running)
    log.statements.clear()

    checks = [auth_pb2.ValidateTokenRequest(token=key) for key in await _unknown_keys(512)]
    reply = await running.stub.ValidateTokens(auth_pb2.ValidateTokensRequest(checks=checks))

    assert len(reply.verdicts) == 512
    assert {v.refusal.code for v in reply.verdicts} == {grpc.StatusCode.UNAUTHENTICATED.value[0]}
    assert 1 <= _markers(log.statements) <= 3  # one, and one for those who came while it was out


async def test_known_keys_still_pass_and_revoked_ones_still_fail(
    start_authsvc: ServerFactory, counted: tuple[Database, CountedPool], make_account: AccountFactory
) -> None:
    db, log = counted
    running = await start_authsvc(db=db)
    await _ready(running)
    account = await make_account("admin")
    pair = await running.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    request = auth_pb2.CreateApiKeyRequest(
        name="real", permissions=["geofences:read"], environment=auth_pb2.ENVIRONMENT_LIVE
    )
    created = await running.stub.CreateApiKey(request, metadata=bearer(pair.access_token))

    principal = (
        await running.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=created.secret))
    ).principal
    assert principal.api_key_id == created.api_key.id  # its digest was added as it was created

    await running.stub.RevokeApiKey(
        auth_pb2.RevokeApiKeyRequest(id=created.api_key.id), metadata=bearer(pair.access_token)
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await running.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=created.secret))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED

    log.statements.clear()
    for key in await _unknown_keys(50):  # one at a time, too: a marker each at most
        with pytest.raises(grpc.aio.AioRpcError):
            await running.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=key))
    assert _markers(log.statements) <= 50


async def test_a_key_created_on_another_replica_is_known_here_as_its_notice_arrives(
    start_authsvc: ServerFactory, counted: tuple[Database, CountedPool], make_account: AccountFactory
) -> None:
    """CreateApiKey answers once its own replica heard the creation notice; another replica may
    hear it a moment later, and catches up before it refuses (docs/security.md): accepted at once."""
    db, _ = counted
    here = await start_authsvc(db=db)
    there = await start_authsvc()
    await _ready(here)
    account = await make_account("admin")
    pair = await there.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    for n in range(10):
        request = auth_pb2.CreateApiKeyRequest(
            name=f"k{n}", permissions=["geofences:read"], environment=auth_pb2.ENVIRONMENT_LIVE
        )
        created = await there.stub.CreateApiKey(request, metadata=bearer(pair.access_token))
        check = auth_pb2.ValidateTokenRequest(token=created.secret)
        assert await status_of(here.stub.ValidateToken(check)) == grpc.StatusCode.OK
