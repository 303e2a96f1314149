"""Password edge cases and user enumeration, through a real channel on real PostgreSQL."""

from __future__ import annotations

import statistics
import time
import uuid

import grpc

from authsvc.domain.rate_limits import RateLimit
from authsvc.v1 import auth_pb2
from tests.conftest import Running, ServerFactory
from tests.support.grpc_client import rpc_error


async def _create(running: Running, password: str) -> str:
    email = f"pw-{uuid.uuid4().hex[:10]}@example.com"
    await running.services.users.create(email, password, "member", f"ws-{uuid.uuid4().hex[:8]}")
    return email


async def _login_code(running: Running, email: str, password: str) -> grpc.StatusCode:
    try:
        await running.stub.Login(auth_pb2.LoginRequest(email=email, password=password))
    except grpc.aio.AioRpcError as error:
        assert error.details() == "Invalid credentials"
        return error.code()
    return grpc.StatusCode.OK


async def test_nul_bytes_are_significant(authsvc: Running) -> None:
    email = await _create(authsvc, "abc\x00defgh wide open sky")
    assert await _login_code(authsvc, email, "abc\x00defgh wide open sky") == grpc.StatusCode.OK
    assert await _login_code(authsvc, email, "abc") == grpc.StatusCode.UNAUTHENTICATED
    other = await _create(authsvc, "abcdefgh wide open sky")
    assert await _login_code(authsvc, other, "abcdefgh wide open sky\x00") == grpc.StatusCode.UNAUTHENTICATED


async def test_multibyte_passwords_count_bytes_not_characters(authsvc: Running) -> None:
    email = await _create(authsvc, "éàü" * 12)  # 72 bytes: the most bcrypt reads
    assert await _login_code(authsvc, email, "éàü" * 12) == grpc.StatusCode.OK
    assert await _login_code(authsvc, email, "éàü" * 12 + "é") == grpc.StatusCode.UNAUTHENTICATED
    assert await _login_code(authsvc, email, "éàü" * 12 + "x") == grpc.StatusCode.UNAUTHENTICATED


async def test_passwords_bcrypt_would_truncate_are_refused_at_creation(authsvc: Running) -> None:
    for password in ("a" * 73, "é" * 37, "short"):
        try:
            await _create(authsvc, password)
        except Exception as error:
            assert "Password must be" in str(error)
        else:
            raise AssertionError(f"accepted {len(password.encode())} bytes")


async def test_unknown_email_and_wrong_password_take_the_same_time(start_authsvc: ServerFactory) -> None:
    running = await start_authsvc(login_account_failure_limit=RateLimit(1000, 3600))
    email = await _create(running, "the right password")
    timings: dict[str, list[float]] = {"wrong password": [], "unknown email": []}
    for attempt in range(50):
        for case, address in (("wrong password", email), ("unknown email", f"nobody-{attempt}-{email}")):
            started = time.perf_counter()
            error = await rpc_error(
                running.stub.Login(auth_pb2.LoginRequest(email=address, password="not it at all"))
            )
            timings[case].append(time.perf_counter() - started)
            assert (error.code(), error.details()) == (grpc.StatusCode.UNAUTHENTICATED, "Invalid credentials")
    wrong, unknown = (statistics.median(timings[c]) for c in ("wrong password", "unknown email"))
    assert abs(wrong - unknown) / max(wrong, unknown) < 0.15, (wrong, unknown)
