"""SIGTERM with calls in flight: they all finish, new calls are refused, the process exits in time."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid

import grpc

from authsvc.adapters.database import Database
from authsvc.v1 import auth_pb2, auth_pb2_grpc
from tests.conftest import TEST_SECRET, AccountFactory
from tests.support.processes import clean_env, start_serve


async def test_sigterm_drains_in_flight_calls(
    database_url: str, database: Database, make_account: AccountFactory
) -> None:
    account = await make_account()
    env = clean_env(
        AUTHSVC_DATABASE_URL=database_url,
        AUTHSVC_JWT_SECRET=TEST_SECRET.hex(),
        AUTHSVC_GRPC_ADDRESS="127.0.0.1:0",
        AUTHSVC_BCRYPT_COST="12",  # ~0.25 s a login: 20 of them are still running at SIGTERM
        AUTHSVC_LOGIN_RATE_LIMIT="1000/60",
        AUTHSVC_SHUTDOWN_GRACE_SECONDS="20",
    )
    serve = await start_serve(env)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{serve.port}") as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        request = auth_pb2.LoginRequest(email=account.email, password=account.password)
        in_flight = [asyncio.ensure_future(stub.Login(request, timeout=60)) for _ in range(20)]
        await asyncio.sleep(0.5)
        assert not all(call.done() for call in in_flight)
        serve.process.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        await asyncio.sleep(0.2)

        refused = stub.ValidateToken(auth_pb2.ValidateTokenRequest(token="x"), timeout=5)
        try:
            await refused
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.UNAVAILABLE
        else:
            raise AssertionError("a new call was served after SIGTERM")
        replies = await asyncio.gather(*in_flight)

    assert all(reply.access_token for reply in replies)
    assert await asyncio.wait_for(serve.process.wait(), 25) == 0
    assert time.monotonic() - stopped_at < 20
    sessions = await database.fetchval(
        "SELECT count(*) FROM sessions WHERE user_id = $1", uuid.UUID(account.user_id)
    )
    assert sessions == 20
