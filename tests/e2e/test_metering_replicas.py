"""Two `authsvc serve` processes share one key's budget: a key limited to 100/min, 1,000 requests
split between them, is admitted within the bounds docs/security.md states, then refused on both
until the minute ends; a replica killed with -9 loses at most its two leases of that window."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
import pytest

from authsvc.domain.plans import lease_size
from authsvc.v1 import auth_pb2, auth_pb2_grpc
from tests.conftest import AccountFactory
from tests.e2e.conftest import PairFactory
from tests.support.eventually import eventually
from tests.support.grpc_client import bearer, status_of

pytestmark = pytest.mark.timeout(180)  # it waits for the clock's next minute, up to twice
LIMIT = 100
LEASE = lease_size(LIMIT)


async def _admitted(stub: auth_pb2_grpc.AuthServiceStub, secret: str, count: int) -> int:
    request = auth_pb2.ValidateTokenRequest(token=secret, cost=1)
    results = await asyncio.gather(
        *(stub.ValidateToken(request, timeout=10) for _ in range(count)), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert all(r.code() == grpc.StatusCode.RESOURCE_EXHAUSTED for r in refused), refused[:1]
    assert not [
        r for r in results if isinstance(r, BaseException) and not isinstance(r, grpc.aio.AioRpcError)
    ]
    return count - len(refused)


async def _next_minute(at_least: float = 0.0) -> None:
    """Waits until a minute begins (when fewer than `at_least` seconds are left of this one, or
    always when `at_least` is 0), then half a second more."""
    left = 60 - time.time() % 60
    if at_least == 0 or left < at_least:
        await asyncio.sleep(left + 0.5)


async def test_two_processes_share_a_keys_budget_and_a_killed_one_loses_at_most_its_leases(
    start_replicas: PairFactory, make_account: AccountFactory, tmp_path: Path
) -> None:
    plans = tmp_path / "plans.toml"
    plans.write_text('default = "p"\n[plans.p]\nrequests_per_minute = 100000\n')
    a, b, b_process = await start_replicas(AUTHSVC_PLANS_FILE=str(plans))
    account = await make_account("admin")
    token = (
        await a.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    ).access_token
    created = await a.CreateApiKey(
        auth_pb2.CreateApiKeyRequest(
            name="shared",
            permissions=["geofences:read"],
            environment=auth_pb2.ENVIRONMENT_LIVE,
            rate_limit=auth_pb2.KeyRateLimit(requests_per_minute=LIMIT),
        ),
        metadata=bearer(token),
    )
    secret = created.secret
    check = auth_pb2.ValidateTokenRequest(token=secret)  # cost 0: nothing charged

    async def known() -> bool:
        return (await status_of(b.ValidateToken(check, timeout=5))) == grpc.StatusCode.OK

    await eventually(known)  # B hears of the new key by notice, a moment after A

    await _next_minute(at_least=20)  # the 1,000 requests fall in one window
    total = 0
    for _ in range(10):
        total += sum(await asyncio.gather(_admitted(a, secret, 50), _admitted(b, secret, 50)))
    assert LIMIT - 2 * 2 * LEASE <= total <= LIMIT
    assert await _admitted(a, secret, 5) == 0 and await _admitted(b, secret, 5) == 0

    await _next_minute()
    assert await _admitted(b, secret, 7) == 7  # B now holds leases of this window
    b_process.process.kill()  # -9: what B drew and did not spend is lost to this window
    await b_process.process.wait()
    spent_by_a = 0
    while (got := await _admitted(a, secret, 10)) == 10:
        spent_by_a += got
    spent_by_a += got
    assert LIMIT - 2 * LEASE <= 7 + spent_by_a <= LIMIT
    assert await _admitted(a, secret, 3) == 0
