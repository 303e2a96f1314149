"""Whose refresh budget a refresh spends (review finding 1).

Before: the per-user budget (10/min) was charged from the token's `sub` before its session was
looked at, so a logged-out session's refresh token, presented 11 times, left its owner's live
session answering 429.
"""

from __future__ import annotations

import random

import grpc
import jwt

from authsvc.adapters.database import Database
from authsvc.domain.rate_limits import RateLimit
from authsvc.v1 import auth_pb2
from tests.conftest import AccountFactory, Running, ServerFactory
from tests.support.addresses import forwarded_for, unique_client_ip
from tests.support.clock import FakeClock
from tests.support.grpc_client import bearer, rpc_error


def _budget() -> RateLimit:
    return RateLimit(10, 60 + random.random())  # the documented 10/min, in buckets of this test's own


async def _login(running: Running, email: str, password: str) -> auth_pb2.TokenPair:
    request = auth_pb2.LoginRequest(email=email, password=password)
    return await running.stub.Login(request, metadata=forwarded_for(unique_client_ip()))


async def _refresh_codes(running: Running, token: str, times: int, ip: str) -> list[str]:
    codes = []
    for _ in range(times):
        try:
            await running.stub.Refresh(
                auth_pb2.RefreshRequest(refresh_token=token), metadata=forwarded_for(ip)
            )
        except grpc.aio.AioRpcError as error:
            codes.append(error.code().name)
        else:
            codes.append("OK")
    return codes


async def test_a_dead_refresh_token_never_spends_its_owners_budget(
    start_authsvc: ServerFactory, make_account: AccountFactory
) -> None:
    running = await start_authsvc(refresh_rate_limit=_budget())
    account = await make_account("member")
    session_a = await _login(running, account.email, account.password)
    session_b = await _login(running, account.email, account.password)
    await running.stub.Logout(auth_pb2.LogoutRequest(), metadata=bearer(session_a.access_token))

    attacker = unique_client_ip()
    codes = await _refresh_codes(running, session_a.refresh_token, 30, attacker)
    assert codes == ["UNAUTHENTICATED"] * 10 + ["RESOURCE_EXHAUSTED"] * 20  # the attacker's network pays

    # The owner's live session has its whole budget: ten refreshes in a row.
    token = session_b.refresh_token
    for _ in range(10):
        request = auth_pb2.RefreshRequest(refresh_token=token)
        token = (
            await running.stub.Refresh(request, metadata=forwarded_for(unique_client_ip()))
        ).refresh_token


async def test_tokens_replayed_after_the_grace_window_are_charged_to_the_network(
    start_authsvc: ServerFactory, make_account: AccountFactory
) -> None:
    clock = FakeClock()
    running = await start_authsvc(clock, refresh_rate_limit=_budget())
    account = await make_account("member")
    old = await _login(running, account.email, account.password)
    live = await _login(running, account.email, account.password)
    rotated = await running.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=old.refresh_token))
    clock.advance(60)  # past the grace window: a replay now revokes that session (reuse detection)
    codes = await _refresh_codes(running, old.refresh_token, 12, unique_client_ip())
    assert codes == ["UNAUTHENTICATED"] * 10 + ["RESOURCE_EXHAUSTED"] * 2
    revoked = await rpc_error(
        running.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=rotated.refresh_token))
    )
    assert revoked.code() == grpc.StatusCode.UNAUTHENTICATED  # the replay revoked that session
    # The user's other session still refreshes: the replays spent none of the user's budget.
    assert (
        await running.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=live.refresh_token))
    ).access_token


async def test_a_refused_rotation_rotates_nothing(
    start_authsvc: ServerFactory, make_account: AccountFactory, database: Database
) -> None:
    running = await start_authsvc(refresh_rate_limit=_budget())
    account = await make_account("member")
    pair = await _login(running, account.email, account.password)
    token = pair.refresh_token
    for _ in range(10):
        token = (await running.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=token))).refresh_token
    limited = await rpc_error(running.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=token)))
    assert limited.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert int(dict(limited.trailing_metadata() or ())["retry-after"]) >= 1
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    row = await database.fetchrow("SELECT retired_at FROM refresh_tokens WHERE jti = $1", jti)
    assert row is not None and row["retired_at"] is None  # still the live token: nothing was rotated
    sessions = await database.fetchval(
        "SELECT count(*) FROM refresh_tokens WHERE session_id = $1",
        jwt.decode(token, options={"verify_signature": False})["sid"],
    )
    assert sessions == 11  # the login's token and ten successors; the refused call wrote none
