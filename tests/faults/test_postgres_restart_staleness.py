"""AuthService's own revocation index follows the SDK's staleness rule: while PostgreSQL restarts,
a real `authsvc serve` keeps answering valid credentials (and refusing those revoked before) from
what it held, for AUTHSVC_MAX_STALENESS_SECONDS; past that, UNAVAILABLE; once PostgreSQL is back,
exact answers again."""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from pathlib import Path

import grpc

from authsvc.v1 import auth_pb2, auth_pb2_grpc
from tests.conftest import TEST_SECRET
from tests.faults.test_database_faults import StoppablePostgres
from tests.support.grpc_client import bearer
from tests.support.processes import clean_env, start_serve

PASSWORD = "a long enough password"


async def _code(stub: auth_pb2_grpc.AuthServiceStub, token: str) -> grpc.StatusCode:
    try:
        await stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=token), timeout=3)
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def test_a_postgres_restart_is_ridden_out_for_max_staleness_then_unavailable() -> None:
    with tempfile.TemporaryDirectory(prefix="authsvc-stale-") as folder:
        postgres = await asyncio.to_thread(StoppablePostgres, Path(folder))
        email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
        env = clean_env(
            AUTHSVC_DATABASE_URL=postgres.dsn,
            AUTHSVC_JWT_SECRET=TEST_SECRET.hex(),
            AUTHSVC_GRPC_ADDRESS="127.0.0.1:0",
            AUTHSVC_BCRYPT_COST="10",
            AUTHSVC_SHUTDOWN_GRACE_SECONDS="1",
            AUTHSVC_BOOTSTRAP_ADMIN_EMAIL=email,
            AUTHSVC_BOOTSTRAP_ADMIN_PASSWORD=PASSWORD,
            AUTHSVC_MAX_STALENESS_SECONDS="4",
        )
        process = await start_serve(env)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{process.port}") as channel:
                stub = auth_pb2_grpc.AuthServiceStub(channel)
                login = auth_pb2.LoginRequest(email=email, password=PASSWORD)
                valid, revoked = (
                    (await stub.Login(login)).access_token,
                    (await stub.Login(login)).access_token,
                )
                await stub.Logout(auth_pb2.LogoutRequest(), metadata=bearer(revoked))
                request = auth_pb2.CreateApiKeyRequest(
                    name="k", permissions=["geofences:read"], environment=auth_pb2.ENVIRONMENT_TEST
                )
                key = (await stub.CreateApiKey(request, metadata=bearer(valid))).secret
                assert await _code(stub, key) == grpc.StatusCode.OK  # cached by the replica
                assert await _code(stub, revoked) == grpc.StatusCode.UNAUTHENTICATED

                await asyncio.to_thread(postgres.stop)
                stopped = time.monotonic()
                while time.monotonic() - stopped < 2.0:  # from what the replica held
                    assert await _code(stub, valid) == grpc.StatusCode.OK
                    assert await _code(stub, key) == grpc.StatusCode.OK
                    assert await _code(stub, revoked) == grpc.StatusCode.UNAUTHENTICATED
                    await asyncio.sleep(0.1)
                try:  # what needs the database cannot be answered
                    await stub.Login(login, timeout=3)
                except grpc.aio.AioRpcError as error:
                    assert error.code() == grpc.StatusCode.UNAVAILABLE
                else:
                    raise AssertionError("a login succeeded with PostgreSQL stopped")
                await asyncio.sleep(4.5 - (time.monotonic() - stopped))
                for token in (valid, key, revoked):  # past the staleness bound
                    assert await _code(stub, token) == grpc.StatusCode.UNAVAILABLE

                await asyncio.to_thread(postgres.start)
                started = time.monotonic()
                while await _code(stub, valid) != grpc.StatusCode.OK:
                    assert time.monotonic() - started < 15, "did not recover"
                    await asyncio.sleep(0.2)
                assert await _code(stub, revoked) == grpc.StatusCode.UNAUTHENTICATED
                assert await _code(stub, key) == grpc.StatusCode.OK
        finally:
            await process.stop()
            await asyncio.to_thread(postgres.stop)
