"""The real `authsvc serve` on embedded PostgreSQL: first-start admin, data kept across restarts."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from authsvc.v1 import auth_pb2, auth_pb2_grpc
from tests.support.processes import clean_env, start_serve


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # A short path: PostgreSQL's unix socket lives in it.
    folder = Path(tempfile.mkdtemp(prefix="authsvc-e2e-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


async def _login(port: int, email: str, password: str) -> auth_pb2.TokenPair:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        reply = await stub.Login(auth_pb2.LoginRequest(email=email, password=password), timeout=10)
        await stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=reply.access_token), timeout=10)
        health = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service="authsvc.v1.AuthService"), timeout=10
        )
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        return reply


def _reflected_services(port: int) -> list[str]:
    """What a grpcurl-style tool sees through server reflection."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return list(ProtoReflectionDescriptorDatabase(channel).get_services())


async def test_serve_without_a_database_keeps_its_data_across_restarts(data_dir: Path) -> None:
    env = clean_env(
        AUTHSVC_DATA_DIR=str(data_dir), AUTHSVC_GRPC_ADDRESS="127.0.0.1:0", AUTHSVC_BCRYPT_COST="10"
    )
    first = await start_serve(env)
    try:
        announced = next(line for line in first.lines if "first admin" in line)
        found = re.search(r"email=(\S+) password=(\S+)", announced)
        assert found is not None
        email, password = found.groups()
        await _login(first.port, email, password)
        async with aiohttp.ClientSession() as http, http.get(first.metrics_url) as response:
            exposition = await response.text()
        assert 'grpc_server_handled_total{grpc_code="OK",grpc_method="Login"' in exposition
        assert 'authsvc_logins_total{outcome="succeeded"} 1.0' in exposition
        assert 'authsvc_db_pool_connections{state="max"}' in exposition
        assert set(_reflected_services(first.port)) >= {"authsvc.v1.AuthService", "grpc.health.v1.Health"}
    finally:
        assert await first.stop() == 0
    assert (data_dir / "jwt_secret").stat().st_mode & 0o077 == 0

    second = await start_serve(env)
    try:
        assert not any("first admin" in line for line in second.lines)
        await _login(second.port, email, password)
    finally:
        assert await second.stop() == 0
