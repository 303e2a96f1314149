"""Behind PgBouncer in transaction pooling mode (Debian's 1.18, as a new user would deploy it):
`authsvc migrate`, `user create` and two `authsvc serve` replicas work through it, with
AUTHSVC_DATABASE_POOLER=transaction and LISTEN over AUTHSVC_DIRECT_DATABASE_URL. Without the
setting, the very first `user create` fails as the issue found (asyncpg's named statements)."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest

from authsvc.adapters.database import Database
from authsvc.v1 import auth_pb2, auth_pb2_grpc
from tests.conftest import TEST_SECRET
from tests.support.addresses import TEST_PROXY_TOKEN
from tests.support.grpc_client import bearer, refused_within
from tests.support.pgbouncer import (
    PgBouncer,
    PgBouncerUnavailable,
    pgbouncer_binary_path,
    running_pgbouncer,
)
from tests.support.postgres import with_database
from tests.support.processes import clean_env, start_serve

pytestmark = pytest.mark.timeout(300)
PASSWORD = "a long password"


@pytest.fixture(scope="session")
def pgbouncer_binary() -> str:
    try:
        return pgbouncer_binary_path()
    except PgBouncerUnavailable as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture
async def empty_database(database: Database, database_url: str) -> AsyncIterator[tuple[str, str]]:
    """A database with no schema yet: its name and its direct URL."""
    name = f"authsvc_pgb_{uuid.uuid4().hex[:12]}"
    await database.execute(f'CREATE DATABASE "{name}"')
    yield name, with_database(database_url, name)
    await database.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
async def pgbouncer(pgbouncer_binary: str, database_url: str) -> AsyncIterator[PgBouncer]:
    async with running_pgbouncer(pgbouncer_binary, database_url) as running:
        yield running


async def _authsvc(args: list[str], env: dict[str, str], stdin: bytes = b"") -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "authsvc", *args, env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(stdin), 60)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_without_the_setting_it_fails_as_a_new_user_found(
    pgbouncer: PgBouncer, empty_database: tuple[str, str]
) -> None:
    name, _ = empty_database
    env = clean_env(AUTHSVC_DATABASE_URL=pgbouncer.url(name), AUTHSVC_JWT_SECRET=TEST_SECRET.hex())
    code, out = await _authsvc(["migrate"], env)
    assert code == 0, out
    code, out = await _authsvc(
        ["user", "create", "--email", "x@example.com", "--role", "admin", "--workspace", "w"],
        env,
        PASSWORD.encode(),
    )
    assert code != 0 and "prepared statement" in out  # what the issue saw; the docs say why


async def test_every_feature_works_through_pgbouncer_with_two_replicas(
    pgbouncer: PgBouncer, empty_database: tuple[str, str]
) -> None:
    name, direct = empty_database
    env = clean_env(
        AUTHSVC_DATABASE_URL=pgbouncer.url(name),
        AUTHSVC_DATABASE_POOLER="transaction",
        AUTHSVC_DIRECT_DATABASE_URL=direct,
        AUTHSVC_JWT_SECRET=TEST_SECRET.hex(),
        AUTHSVC_GRPC_ADDRESS="127.0.0.1:0",
        AUTHSVC_BCRYPT_COST="10",
        AUTHSVC_SHUTDOWN_GRACE_SECONDS="2",
        AUTHSVC_PROXY_TOKENS=TEST_PROXY_TOKEN,
        AUTHSVC_DB_POOL_MAX="4",
        AUTHSVC_LOGIN_RATE_LIMIT="1000/60",
        AUTHSVC_REFRESH_RATE_LIMIT="1000/60",
    )
    code, out = await _authsvc(["migrate"], env)
    assert code == 0 and "migrations applied" in out, out
    emails = [f"pgb-{i}-{uuid.uuid4().hex[:6]}@example.com" for i in range(8)]
    for email in emails:
        code, out = await _authsvc(
            ["user", "create", "--email", email, "--role", "admin", "--workspace", "pgb"],
            env,
            PASSWORD.encode(),
        )
        assert code == 0, out
    code, out = await _authsvc(["keys", "rotate", "--algorithm", "ES256"], env)
    assert code == 0, out

    processes = await asyncio.gather(start_serve(env), start_serve(env))
    try:
        async with (
            grpc.aio.insecure_channel(f"127.0.0.1:{processes[0].port}") as ca,
            grpc.aio.insecure_channel(f"127.0.0.1:{processes[1].port}") as cb,
        ):
            a, b = auth_pb2_grpc.AuthServiceStub(ca), auth_pb2_grpc.AuthServiceStub(cb)
            # Concurrent logins and refreshes on both replicas: many transactions at once over
            # three server connections, each landing wherever PgBouncer puts it.
            pairs = await asyncio.gather(
                *(
                    (a if i % 2 else b).Login(auth_pb2.LoginRequest(email=email, password=PASSWORD))
                    for i, email in enumerate(emails)
                )
            )
            refreshed = await asyncio.gather(
                *(
                    (b if i % 2 else a).Refresh(auth_pb2.RefreshRequest(refresh_token=pair.refresh_token))
                    for i, pair in enumerate(pairs)
                )
            )
            for pair in refreshed:
                await b.ValidateToken(auth_pb2.ValidateTokenRequest(token=pair.access_token))
            key = await a.CreateApiKey(
                auth_pb2.CreateApiKeyRequest(
                    name="through pgbouncer",
                    permissions=["geofences:read"],
                    environment=auth_pb2.ENVIRONMENT_LIVE,
                ),
                metadata=bearer(refreshed[0].access_token),
            )
            checks = await asyncio.gather(
                *(
                    stub.ValidateToken(
                        auth_pb2.ValidateTokenRequest(
                            token=key.secret, required_permissions=["geofences:read"]
                        )
                    )
                    for stub in (a, b) * 10
                )
            )
            assert {check.principal.api_key_id for check in checks} == {key.api_key.id}
            listed = await b.ListApiKeys(
                auth_pb2.ListApiKeysRequest(), metadata=bearer(refreshed[1].access_token)
            )
            assert key.api_key.id in {k.id for k in listed.api_keys}

            # Revocations reach the other replica over the direct LISTEN connection, within 1 s.
            await a.Logout(auth_pb2.LogoutRequest(), metadata=bearer(refreshed[2].access_token))
            await refused_within(b, refreshed[2].access_token, 1.0)
            await b.RevokeApiKey(
                auth_pb2.RevokeApiKeyRequest(id=key.api_key.id), metadata=bearer(refreshed[0].access_token)
            )
            await refused_within(a, key.secret, 1.0)
    finally:
        for process in processes:
            await process.stop()
    assert "prepared statement" not in pgbouncer.log.read_text(errors="replace")
