"""Two AuthService processes on one database: shared rate limits, revocations seen within 1 s."""

from __future__ import annotations

import asyncio

import grpc

from authsvc.adapters.database import Database
from authsvc.v1 import auth_pb2
from tests.conftest import AccountFactory
from tests.e2e.conftest import PairFactory
from tests.support.addresses import forwarded_for, unique_client_ip
from tests.support.grpc_client import bearer, refused_within, rpc_error


async def test_login_limit_holds_across_replicas(
    start_replicas: PairFactory, make_account: AccountFactory
) -> None:
    # 5 per 10 s: one slot comes back every 2 s, far longer than five logins take (bcrypt cost 10).
    a, b, _ = await start_replicas(AUTHSVC_LOGIN_RATE_LIMIT="5/10")
    account = await make_account()
    ip = unique_client_ip()
    request = auth_pb2.LoginRequest(email=account.email, password=account.password)
    for stub in (a, b, a, b, a):
        assert (await stub.Login(request, metadata=forwarded_for(ip))).access_token
    refused = await rpc_error(b.Login(request, metadata=forwarded_for(ip)))
    assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    wait = int(dict(refused.trailing_metadata() or ())["retry-after"])
    assert 1 <= wait <= 2
    assert (await a.Login(request, metadata=forwarded_for(unique_client_ip()))).access_token
    await asyncio.sleep(wait)
    assert (await b.Login(request, metadata=forwarded_for(ip))).access_token


async def test_refresh_limit_holds_across_replicas(
    start_replicas: PairFactory, make_account: AccountFactory
) -> None:
    a, b, _ = await start_replicas(AUTHSVC_REFRESH_RATE_LIMIT="4/3")
    account = await make_account()
    token = (
        await a.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    ).refresh_token
    for stub in (a, b, a, b):
        token = (await stub.Refresh(auth_pb2.RefreshRequest(refresh_token=token))).refresh_token
    refused = await rpc_error(a.Refresh(auth_pb2.RefreshRequest(refresh_token=token)))
    assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    await asyncio.sleep(int(dict(refused.trailing_metadata() or ())["retry-after"]))
    assert (await b.Refresh(auth_pb2.RefreshRequest(refresh_token=token))).access_token


async def test_200_concurrent_logins_on_two_replicas_pass_exactly_the_limit(
    start_replicas: PairFactory, make_account: AccountFactory
) -> None:
    a, b, _ = await start_replicas(AUTHSVC_LOGIN_RATE_LIMIT="5/60")
    account = await make_account()
    ip = unique_client_ip()
    request = auth_pb2.LoginRequest(email=account.email, password=account.password)
    calls = [(a if i % 2 else b).Login(request, metadata=forwarded_for(ip), timeout=60) for i in range(200)]
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    passed = [o for o in outcomes if isinstance(o, auth_pb2.TokenPair)]
    codes = {o.code() for o in outcomes if isinstance(o, grpc.aio.AioRpcError)}
    assert len(passed) == 5
    assert codes == {grpc.StatusCode.RESOURCE_EXHAUSTED}


async def test_revocations_reach_the_other_replica_within_a_second(
    start_replicas: PairFactory, make_account: AccountFactory, database: Database
) -> None:
    a, b, b_process = await start_replicas()
    account = await make_account("admin")
    login = await a.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    keys = []
    for name in ("first", "second"):
        created = await a.CreateApiKey(
            auth_pb2.CreateApiKeyRequest(
                name=name, permissions=["geofences:read"], environment=auth_pb2.ENVIRONMENT_LIVE
            ),
            metadata=bearer(login.access_token),
        )
        keys.append(created)
        await b.ValidateToken(auth_pb2.ValidateTokenRequest(token=created.secret))  # now cached on B

    await a.RevokeApiKey(
        auth_pb2.RevokeApiKeyRequest(id=keys[0].api_key.id), metadata=bearer(login.access_token)
    )
    assert await refused_within(b, keys[0].secret, 1.0) < 1.0

    second_login = await a.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    await b.ValidateToken(auth_pb2.ValidateTokenRequest(token=second_login.access_token))
    await a.Logout(auth_pb2.LogoutRequest(), metadata=bearer(second_login.access_token))
    assert await refused_within(b, second_login.access_token, 1.0) < 1.0

    # Cut B's notification connection: B must still converge, not keep serving from its cache.
    await b.ValidateToken(auth_pb2.ValidateTokenRequest(token=keys[1].secret))
    killed = await database.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
        f"authsvc-listener:{b_process.process.pid}",
    )
    assert killed == 1
    await a.RevokeApiKey(
        auth_pb2.RevokeApiKeyRequest(id=keys[1].api_key.id), metadata=bearer(login.access_token)
    )
    assert await refused_within(b, keys[1].secret, 1.0) < 1.0
