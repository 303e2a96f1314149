"""PostgreSQL stopped, slow or locked: calls fail cleanly within their deadline and nothing is lost."""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import jwt
import pytest

from authsvc.adapters import embedded_postgres
from authsvc.adapters.database import Database
from authsvc.adapters.migrations import migrate
from authsvc.adapters.pg_api_keys import BatchedUsageRecorder
from authsvc.bootstrap import build_services
from authsvc.config import Settings
from authsvc.grpc_api.server import start_server
from authsvc.service.container import Services
from authsvc.v1 import auth_pb2, auth_pb2_grpc
from tests.conftest import TEST_SECRET, AccountFactory, Running
from tests.support.clock import FakeClock
from tests.support.grpc_client import rpc_error


class StoppablePostgres:
    """An embedded PostgreSQL of this test's own, so it can be stopped without harming others."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.server: Any = embedded_postgres.start(folder)
        self.dsn = embedded_postgres.dsn(self.server)

    def stop(self) -> None:
        self.server.cleanup()

    def start(self) -> None:
        self.server = embedded_postgres.start(self.folder)


@pytest.fixture
async def own_postgres() -> AsyncIterator[tuple[StoppablePostgres, Services, auth_pb2_grpc.AuthServiceStub]]:
    with tempfile.TemporaryDirectory(prefix="authsvc-fault-") as folder:
        postgres = await asyncio.to_thread(StoppablePostgres, Path(folder))
        database = await Database.connect(postgres.dsn, min_size=1, max_size=4)
        async with database.connection() as conn:
            await migrate(conn)
        settings = Settings(database_url=postgres.dsn, jwt_secret=TEST_SECRET, bcrypt_cost=10)
        services = build_services(
            settings, database, TEST_SECRET, FakeClock(), BatchedUsageRecorder(database)
        )
        server, port = await start_server(services, "127.0.0.1:0")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield postgres, services, auth_pb2_grpc.AuthServiceStub(channel)
        await server.stop(None)
        await database.close()
        await asyncio.to_thread(postgres.stop)


async def test_postgres_stopped_mid_run_is_unavailable_then_recovers(
    own_postgres: tuple[StoppablePostgres, Services, auth_pb2_grpc.AuthServiceStub],
) -> None:
    postgres, services, stub = own_postgres
    await services.users.create("fault@example.com", "a good password", "admin", "faults")
    login = auth_pb2.LoginRequest(email="fault@example.com", password="a good password")
    pair = await stub.Login(login, timeout=10)

    await asyncio.to_thread(postgres.stop)
    for call in (
        stub.Login(login, timeout=5),
        stub.Refresh(auth_pb2.RefreshRequest(refresh_token=pair.refresh_token), timeout=5),
        stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=pair.access_token), timeout=5),
    ):
        started = time.monotonic()
        error = await rpc_error(call)
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert error.details() == "Service unavailable"
        assert time.monotonic() - started < 5

    await asyncio.to_thread(postgres.start)
    deadline = time.monotonic() + 15
    while True:  # the pool replaces its dead connections by itself: no restart
        try:
            again = await stub.Login(login, timeout=5)
            break
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.UNAVAILABLE
            assert time.monotonic() < deadline, "did not recover"
            await asyncio.sleep(0.2)
    await stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=again.access_token), timeout=5)
    await stub.Refresh(auth_pb2.RefreshRequest(refresh_token=pair.refresh_token), timeout=5)


async def test_a_saturated_pool_fails_calls_by_their_deadline(
    settings: Settings, database_url: str, make_account: AccountFactory, authsvc: Running
) -> None:
    account = await make_account()
    small = await Database.connect(database_url, min_size=2, max_size=2)
    services = build_services(
        settings.model_copy(update={"bcrypt_cost": 10}),
        small,
        TEST_SECRET,
        FakeClock(),
        BatchedUsageRecorder(small),
    )
    server, port = await start_server(services, "127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = auth_pb2_grpc.AuthServiceStub(channel)
            request = auth_pb2.LoginRequest(email=account.email, password=account.password)
            sleepers = [asyncio.create_task(small.execute("SELECT pg_sleep(3)")) for _ in range(2)]
            await asyncio.sleep(0.3)
            started = time.monotonic()
            error = await rpc_error(stub.Login(request, timeout=1))
            assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert time.monotonic() - started < 1.5
            await asyncio.gather(*sleepers)
            assert (await stub.Login(request, timeout=5)).access_token  # nothing stayed stuck
    finally:
        await server.stop(None)
        await small.close()


async def _hold_session_lock(database_url: str, refresh_token: str) -> asyncpg.Connection:
    sid = jwt.decode(refresh_token, options={"verify_signature": False})["sid"]
    blocker = await asyncpg.connect(database_url)
    await blocker.execute("BEGIN")
    await blocker.execute("SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE", uuid.UUID(sid))
    return blocker


async def _live_and_retired(database: Database, refresh_token: str) -> tuple[int, bool]:
    claims = jwt.decode(refresh_token, options={"verify_signature": False})
    live = await database.fetchval(
        "SELECT count(*) FROM refresh_tokens WHERE session_id = $1 AND retired_at IS NULL",
        uuid.UUID(claims["sid"]),
    )
    retired = await database.fetchval(
        "SELECT retired_at IS NOT NULL FROM refresh_tokens WHERE jti = $1", uuid.UUID(claims["jti"])
    )
    return int(live), bool(retired)


async def test_refresh_past_its_deadline_commits_no_rotation(
    authsvc: Running, make_account: AccountFactory, database: Database, database_url: str
) -> None:
    account = await make_account()
    pair = await authsvc.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    blocker = await _hold_session_lock(database_url, pair.refresh_token)
    try:
        error = await rpc_error(
            authsvc.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=pair.refresh_token), timeout=0.3)
        )
        assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        await asyncio.sleep(0.3)
    finally:
        await blocker.execute("ROLLBACK")
        await blocker.close()
    await asyncio.sleep(0.5)  # had the server kept going, it would have committed by now
    assert await _live_and_retired(database, pair.refresh_token) == (1, False)
    retried = await authsvc.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=pair.refresh_token))
    assert await _live_and_retired(database, retried.refresh_token) == (1, False)


async def test_a_client_that_gives_up_mid_refresh_can_retry(
    authsvc: Running, make_account: AccountFactory, database: Database, database_url: str
) -> None:
    account = await make_account()
    pair = await authsvc.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    blocker = await _hold_session_lock(database_url, pair.refresh_token)
    call = authsvc.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=pair.refresh_token))
    await asyncio.sleep(0.2)
    call.cancel()
    await blocker.execute("ROLLBACK")
    await blocker.close()
    retried = await authsvc.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=pair.refresh_token))
    await authsvc.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=retried.access_token))
    assert (await _live_and_retired(database, retried.refresh_token)) == (1, False)
