"""Refresh-token rotation, reuse detection and the grace window, on real PostgreSQL."""

from __future__ import annotations

import asyncio

import grpc
import jwt

from authsvc.adapters.database import Database
from authsvc.v1 import auth_pb2
from tests.conftest import AccountFactory, Running, ServerFactory
from tests.support.clock import FakeClock
from tests.support.grpc_client import rpc_error, status_of


async def _login(running: Running, make_account: AccountFactory) -> auth_pb2.TokenPair:
    account = await make_account("member")
    return await running.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))


async def _validate(running: Running, token: str) -> grpc.StatusCode:
    return await status_of(running.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=token)))


async def _live_tokens(database: Database, refresh_token: str) -> int:
    sid = jwt.decode(refresh_token, options={"verify_signature": False})["sid"]
    return int(
        await database.fetchval(
            "SELECT count(*) FROM refresh_tokens WHERE session_id = $1 AND retired_at IS NULL", sid
        )
    )


async def test_refresh_rotates_the_pair_and_retires_the_old_token(
    authsvc: Running, make_account: AccountFactory, database: Database
) -> None:
    first = await _login(authsvc, make_account)
    second = await authsvc.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=first.refresh_token))

    assert second.token_type == auth_pb2.TOKEN_TYPE_BEARER and second.expires_in == 24 * 3600
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    assert await _validate(authsvc, second.access_token) == grpc.StatusCode.OK
    assert await _live_tokens(database, second.refresh_token) == 1
    third = await authsvc.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=second.refresh_token))
    assert third.refresh_token not in (first.refresh_token, second.refresh_token)


async def test_replay_within_grace_returns_the_live_token_instead_of_a_second_one(
    start_authsvc: ServerFactory, make_account: AccountFactory, database: Database
) -> None:
    clock = FakeClock()
    running = await start_authsvc(clock)
    first = await _login(running, make_account)
    second = await running.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=first.refresh_token))
    clock.advance(9)
    retry = await running.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=first.refresh_token))

    assert retry.refresh_token == second.refresh_token
    assert await _live_tokens(database, second.refresh_token) == 1
    assert await _validate(running, second.access_token) == grpc.StatusCode.OK


async def test_replay_after_grace_revokes_the_whole_session(
    start_authsvc: ServerFactory, make_account: AccountFactory, database: Database
) -> None:
    clock = FakeClock()
    running = await start_authsvc(clock)
    first = await _login(running, make_account)
    second = await running.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=first.refresh_token))
    clock.advance(11)

    error = await rpc_error(running.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=first.refresh_token)))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert error.details() == "Invalid or expired token"
    # The revocation was committed although the call failed: every token of the login is dead.
    for access in (first.access_token, second.access_token):
        assert await _validate(running, access) == grpc.StatusCode.UNAUTHENTICATED
    later = await rpc_error(running.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=second.refresh_token)))
    assert later.code() == grpc.StatusCode.UNAUTHENTICATED
    sid = jwt.decode(first.refresh_token, options={"verify_signature": False})["sid"]
    reason = await database.fetchval("SELECT revoked_reason FROM sessions WHERE id = $1", sid)
    assert reason == "refresh_token_reuse"


async def test_concurrent_refreshes_of_one_token_leave_one_live_token(
    authsvc: Running, make_account: AccountFactory, database: Database
) -> None:
    for _ in range(20):
        first = await _login(authsvc, make_account)
        request = auth_pb2.RefreshRequest(refresh_token=first.refresh_token)
        replies = await asyncio.gather(authsvc.stub.Refresh(request), authsvc.stub.Refresh(request))

        assert replies[0].refresh_token == replies[1].refresh_token
        assert await _live_tokens(database, replies[0].refresh_token) == 1
        follow = await authsvc.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=replies[0].refresh_token))
        assert await _validate(authsvc, follow.access_token) == grpc.StatusCode.OK


async def test_refresh_token_expires_after_inactivity(
    start_authsvc: ServerFactory, make_account: AccountFactory
) -> None:
    clock = FakeClock()
    running = await start_authsvc(clock, refresh_token_ttl_seconds=3600)
    first = await _login(running, make_account)
    clock.advance(3600 + 31)
    error = await rpc_error(running.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=first.refresh_token)))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_no_refresh_outlives_the_session_absolute_lifetime(
    start_authsvc: ServerFactory, make_account: AccountFactory
) -> None:
    clock = FakeClock()
    running = await start_authsvc(clock, refresh_token_ttl_seconds=3600, session_max_age_seconds=5000)
    token = (await _login(running, make_account)).refresh_token
    for _ in range(2):
        clock.advance(2000)
        token = (await running.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=token))).refresh_token
    clock.advance(1001)
    error = await rpc_error(running.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=token)))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_access_token_is_not_a_refresh_token(authsvc: Running, make_account: AccountFactory) -> None:
    pair = await _login(authsvc, make_account)
    error = await rpc_error(authsvc.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=pair.access_token)))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    for garbage in ("", "x", "a.b.c", pair.refresh_token + "x"):
        error = await rpc_error(authsvc.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=garbage)))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_logout_revokes_access_and_refresh_tokens(
    authsvc: Running, make_account: AccountFactory
) -> None:
    pair = await _login(authsvc, make_account)
    await authsvc.stub.Logout(
        auth_pb2.LogoutRequest(), metadata=(("authorization", f"Bearer {pair.access_token}"),)
    )

    assert await _validate(authsvc, pair.access_token) == grpc.StatusCode.UNAUTHENTICATED
    error = await rpc_error(authsvc.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=pair.refresh_token)))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
