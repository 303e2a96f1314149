"""With PostgreSQL unreachable, database-backed calls answer UNAVAILABLE, never a 401 or a leak."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest
from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2, external_auth_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from authsvc.adapters.database import Database
from authsvc.adapters.pg_api_keys import BatchedUsageRecorder
from authsvc.bootstrap import build_services
from authsvc.config import Settings
from authsvc.domain import api_key_format
from authsvc.grpc_api.health import ServingHealth
from authsvc.grpc_api.server import start_server
from authsvc.v1 import auth_pb2, auth_pb2_grpc
from tests.conftest import TEST_SECRET
from tests.support.addresses import free_port
from tests.support.clock import FakeClock
from tests.support.grpc_client import rpc_error
from tests.support.tokens import forge


def _access_token() -> str:
    now = int(time.time())
    claims = {
        "iss": "authsvc",
        "aud": "authsvc",
        "sub": str(uuid.uuid4()),
        "wid": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
        "jti": str(uuid.uuid4()),
        "scope": "",
        "iat": now,
        "nbf": now,
        "exp": now + 60,
    }
    return forge(claims)


@pytest.fixture
async def channel_without_database(settings: Settings) -> AsyncIterator[grpc.aio.Channel]:
    dsn = f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere"
    pool = await asyncpg.create_pool(dsn, min_size=0, max_size=2, timeout=2)
    database = Database(pool, acquire_timeout=2)
    services = build_services(settings, database, TEST_SECRET, FakeClock(), BatchedUsageRecorder(database))
    health = ServingHealth(database.ping)
    assert await health.check_once() is False
    server, port = await start_server(services, "127.0.0.1:0", health)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel
    await server.stop(None)
    await database.close()


async def test_database_down_is_unavailable(channel_without_database: grpc.aio.Channel) -> None:
    stub_without_database = auth_pb2_grpc.AuthServiceStub(channel_without_database)
    calls = [
        stub_without_database.Login(
            auth_pb2.LoginRequest(email="a@example.com", password="password1"), timeout=10
        ),
        stub_without_database.ValidateToken(
            auth_pb2.ValidateTokenRequest(token=api_key_format.generate("live")), timeout=10
        ),
        stub_without_database.ValidateToken(auth_pb2.ValidateTokenRequest(token=_access_token()), timeout=10),
    ]
    for call in calls:
        error = await rpc_error(call)
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert error.details() == "Service unavailable"
        assert "127.0.0.1" not in error.details() and "Traceback" not in error.details()


async def test_health_reports_not_serving_without_a_database(
    channel_without_database: grpc.aio.Channel,
) -> None:
    health = health_pb2_grpc.HealthStub(channel_without_database)
    for service in ("", "authsvc.v1.AuthService"):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING


async def test_malformed_api_keys_are_refused_without_the_database(
    channel_without_database: grpc.aio.Channel,
) -> None:
    stub = auth_pb2_grpc.AuthServiceStub(channel_without_database)
    good = api_key_format.generate("live")
    for bad in (good[:-1] + ("0" if good[-1] != "0" else "1"), good[:20] + good[21:], "sf_live_" + "A" * 38):
        error = await rpc_error(stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=bad), timeout=5))
        # UNAUTHENTICATED, not UNAVAILABLE: the checksum refused it before any query was tried.
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_envoy_checks_answer_503_without_the_database_never_401_or_a_pass(
    channel_without_database: grpc.aio.Channel,
) -> None:
    envoy = external_auth_pb2_grpc.AuthorizationStub(channel_without_database)
    for token in (api_key_format.generate("live"), _access_token()):
        headers = {"authorization": f"Bearer {token}"}
        http = attribute_context_pb2.AttributeContext.HttpRequest(headers=headers)
        request = external_auth_pb2.CheckRequest(
            attributes=attribute_context_pb2.AttributeContext(
                request=attribute_context_pb2.AttributeContext.Request(http=http)
            )
        )
        reply = await envoy.Check(request, timeout=10)
        assert reply.status.code == grpc.StatusCode.UNAVAILABLE.value[0] and not reply.HasField("ok_response")
        assert reply.denied_response.status.code == 503
        assert json.loads(reply.denied_response.body) == {"detail": "Service unavailable"}
        assert "www-authenticate" not in {h.header.key for h in reply.denied_response.headers}
