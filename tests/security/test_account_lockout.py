"""Strangers cannot keep an account locked (review finding 2).

Before: the per-account failure cap (100/h) refused the right password too, from anywhere, so one
client at 5 a minute through the facade kept the owner out for as long as it kept going.
"""

from __future__ import annotations

import asyncio
import random
import secrets

import grpc

from authsvc.domain.rate_limits import RateLimit
from authsvc.v1 import auth_pb2
from tests.conftest import AccountFactory, Running, ServerFactory
from tests.support.addresses import forwarded_for, unique_client_ip
from tests.support.clock import FakeClock
from tests.support.grpc_client import rpc_error

ACCOUNT_CAP = 100  # the documented default: 100 failures an hour per account


def _limits() -> dict[str, RateLimit]:
    # The documented limits, in buckets of this test's own (a period no other run has used).
    return {
        "login_rate_limit": RateLimit(5, 60 + random.random()),
        "login_account_failure_limit": RateLimit(ACCOUNT_CAP, 3600 + random.random()),
    }


async def _attempt(running: Running, email: str, password: str, ip: str) -> str:
    request = auth_pb2.LoginRequest(email=email, password=password)
    try:
        await running.stub.Login(request, metadata=forwarded_for(ip), timeout=60)
    except grpc.aio.AioRpcError as error:
        return error.code().name
    return "OK"


async def test_a_thousand_failures_from_200_networks_do_not_lock_the_owner_out(
    start_authsvc: ServerFactory, make_account: AccountFactory
) -> None:
    running = await start_authsvc(**_limits())
    account = await make_account("member")
    home = unique_client_ip()
    assert await _attempt(running, account.email, account.password, home) == "OK"  # X logs in from home

    # 200 networks, 5 wrong guesses each (each network's whole per-IP budget): 1,000 failures.
    attackers = [unique_client_ip() for _ in range(200)]
    outcomes: list[str] = []
    for batch in range(0, 200, 20):
        outcomes += await asyncio.gather(
            *(
                _attempt(running, account.email, f"guess-{secrets.token_hex(4)}", ip)
                for ip in attackers[batch : batch + 20]
                for _ in range(5)
            )
        )
    assert len(outcomes) == 1000 and set(outcomes) <= {"UNAUTHENTICATED", "RESOURCE_EXHAUSTED"}
    guesses = outcomes.count("UNAUTHENTICATED")  # passwords actually tried on X
    assert guesses <= ACCOUNT_CAP
    assert guesses >= ACCOUNT_CAP - 5  # (the cap was reached: the rest never reached bcrypt)

    # The owner, from the network X logged in from, gets in on the first try...
    assert await _attempt(running, account.email, account.password, home) == "OK"
    # ...while a network X never logged in from gets no more guesses this hour, right or wrong.
    newcomer = unique_client_ip()
    assert await _attempt(running, account.email, "yet another guess", newcomer) == "RESOURCE_EXHAUSTED"
    assert await _attempt(running, account.email, account.password, newcomer) == "RESOURCE_EXHAUSTED"


async def test_a_known_network_has_its_own_cap_for_the_account(
    start_authsvc: ServerFactory, make_account: AccountFactory
) -> None:
    limits = _limits()
    limits["login_account_failure_limit"] = RateLimit(3, 3600 + random.random())
    limits["login_rate_limit"] = RateLimit(1_000, 60 + random.random())
    running = await start_authsvc(**limits)
    account = await make_account("member")
    office = unique_client_ip()
    assert await _attempt(running, account.email, account.password, office) == "OK"
    # Someone in the office guesses: capped for this account from this network...
    codes = [await _attempt(running, account.email, "wrong", office) for _ in range(4)]
    assert codes == ["UNAUTHENTICATED"] * 3 + ["RESOURCE_EXHAUSTED"]
    # ...which spends nothing of the account-wide budget the owner's other networks do not need.
    elsewhere = unique_client_ip()
    assert await _attempt(running, account.email, "wrong", elsewhere) == "UNAUTHENTICATED"


async def test_a_network_is_known_for_thirty_days_only(
    start_authsvc: ServerFactory, make_account: AccountFactory
) -> None:
    clock = FakeClock()
    limits = _limits()
    limits["login_account_failure_limit"] = RateLimit(2, 3600 + random.random())
    running = await start_authsvc(clock, **limits)
    account = await make_account("member")
    home = unique_client_ip()
    assert await _attempt(running, account.email, account.password, home) == "OK"
    for _ in range(2):  # strangers fill the account-wide cap
        assert await _attempt(running, account.email, "wrong", unique_client_ip()) == "UNAUTHENTICATED"
    clock.advance(29 * 86400)
    assert await _attempt(running, account.email, account.password, home) == "OK"  # known: 29 days ago
    clock.advance(30 * 86400 + 1)  # the last success from home is now over 30 days old
    refused = await rpc_error(
        running.stub.Login(
            auth_pb2.LoginRequest(email=account.email, password=account.password),
            metadata=forwarded_for(home),
        )
    )
    assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
