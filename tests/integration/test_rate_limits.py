"""Login and refresh limits: GCRA in PostgreSQL, RESOURCE_EXHAUSTED with RetryInfo and retry-after."""

from __future__ import annotations

import asyncio
import random

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from authsvc.domain.rate_limits import RateLimit
from authsvc.v1 import auth_pb2
from tests.conftest import AccountFactory, ServerFactory
from tests.support.addresses import forwarded_for, unique_client_ip
from tests.support.grpc_client import rpc_error


def _retry_after(error: grpc.aio.AioRpcError) -> int:
    trailers = dict(error.trailing_metadata() or ())
    return int(trailers["retry-after"])


async def test_sixth_login_from_one_ip_is_refused_until_retry_after(
    start_authsvc: ServerFactory, make_account: AccountFactory
) -> None:
    # 5 per 10 s: one slot comes back every 2 s, far longer than five logins take (bcrypt cost 10).
    running = await start_authsvc(login_rate_limit=RateLimit(5, 10))
    account = await make_account()
    ip = unique_client_ip()
    request = auth_pb2.LoginRequest(email=account.email, password="wrong password")
    for _ in range(5):
        error = await rpc_error(running.stub.Login(request, metadata=forwarded_for(ip)))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED  # not limited: a real answer
    malformed = auth_pb2.LoginRequest(email="not-an-email", password="x")
    limited = await rpc_error(running.stub.Login(malformed, metadata=forwarded_for(ip)))
    assert limited.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # counted before anything else

    refused = await rpc_error(running.stub.Login(request, metadata=forwarded_for(ip)))
    assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert refused.details() == "Rate limit exceeded"
    wait = _retry_after(refused)
    assert 1 <= wait <= 2
    status = rpc_status.from_call(refused)
    assert status is not None
    info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info) and info.retry_delay.seconds == wait

    other = await rpc_error(running.stub.Login(request, metadata=forwarded_for(unique_client_ip())))
    assert other.code() == grpc.StatusCode.UNAUTHENTICATED  # another IP has its own budget
    await asyncio.sleep(wait)
    good = auth_pb2.LoginRequest(email=account.email, password=account.password)
    assert (await running.stub.Login(good, metadata=forwarded_for(ip))).access_token


async def test_concurrent_logins_from_one_ip_pass_exactly_the_limit(
    start_authsvc: ServerFactory, make_account: AccountFactory
) -> None:
    running = await start_authsvc(login_rate_limit=RateLimit(5, 60))
    account = await make_account()
    ip = unique_client_ip()
    request = auth_pb2.LoginRequest(email=account.email, password=account.password)
    calls = [running.stub.Login(request, metadata=forwarded_for(ip), timeout=60) for _ in range(200)]
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    passed = [o for o in outcomes if isinstance(o, auth_pb2.TokenPair)]
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(passed) == 5
    assert len(refused) == 195
    assert {e.code() for e in refused} == {grpc.StatusCode.RESOURCE_EXHAUSTED}


async def test_refresh_is_limited_per_user_whatever_the_ip(
    start_authsvc: ServerFactory, make_account: AccountFactory
) -> None:
    running = await start_authsvc(refresh_rate_limit=RateLimit(10, 60))
    account = await make_account()
    login = await running.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    token = login.refresh_token
    for _ in range(10):
        reply = await running.stub.Refresh(
            auth_pb2.RefreshRequest(refresh_token=token), metadata=forwarded_for(unique_client_ip())
        )
        token = reply.refresh_token
    refused = await rpc_error(
        running.stub.Refresh(
            auth_pb2.RefreshRequest(refresh_token=token), metadata=forwarded_for(unique_client_ip())
        )
    )
    assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert _retry_after(refused) >= 1

    # Another user is unaffected.
    other = await make_account()
    second = await running.stub.Login(auth_pb2.LoginRequest(email=other.email, password=other.password))
    assert (
        await running.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=second.refresh_token))
    ).access_token


async def test_unattributable_refresh_tokens_count_against_the_ip(start_authsvc: ServerFactory) -> None:
    running = await start_authsvc(refresh_rate_limit=RateLimit(3, 60))
    ip = unique_client_ip()
    for _ in range(3):
        error = await rpc_error(
            running.stub.Refresh(auth_pb2.RefreshRequest(refresh_token="garbage"), metadata=forwarded_for(ip))
        )
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    error = await rpc_error(
        running.stub.Refresh(auth_pb2.RefreshRequest(refresh_token="garbage"), metadata=forwarded_for(ip))
    )
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_forwarded_for_from_an_untrusted_peer_does_not_open_new_buckets(
    start_authsvc: ServerFactory, make_account: AccountFactory
) -> None:
    # A period of its own gives this test a fresh bucket for 127.0.0.1, which other runs share.
    running = await start_authsvc(login_rate_limit=RateLimit(5, 60 + random.random()), proxy_tokens=())
    account = await make_account()
    request = auth_pb2.LoginRequest(email=account.email, password="wrong password")
    for _ in range(5):
        error = await rpc_error(running.stub.Login(request, metadata=forwarded_for(unique_client_ip())))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    refused = await rpc_error(running.stub.Login(request, metadata=forwarded_for(unique_client_ip())))
    assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_failures_per_account_are_capped_across_ips_and_successes_do_not_count(
    start_authsvc: ServerFactory, make_account: AccountFactory
) -> None:
    running = await start_authsvc(login_account_failure_limit=RateLimit(3, 3600))
    account = await make_account()
    good = auth_pb2.LoginRequest(email=account.email, password=account.password)
    for _ in range(4):  # successes are given back: they never exhaust the account's budget
        await running.stub.Login(good, metadata=forwarded_for(unique_client_ip()))
    bad = auth_pb2.LoginRequest(email=account.email, password="wrong password")
    for _ in range(3):
        error = await rpc_error(running.stub.Login(bad, metadata=forwarded_for(unique_client_ip())))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    refused = await rpc_error(running.stub.Login(good, metadata=forwarded_for(unique_client_ip())))
    assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert 1 <= _retry_after(refused) <= 1200  # one slot frees every period / count
