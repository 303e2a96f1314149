"""GetApiKeyUsage the requests charged with a key, per day
and per minute; refused requests and plain checks are not counted."""

from __future__ import annotations

from pathlib import Path

import grpc

from authsvc.v1 import auth_pb2
from tests.conftest import AccountFactory, Running, ServerFactory
from tests.support.clock import FakeClock
from tests.support.grpc_client import bearer, rpc_error


async def _admin_and_key(
    running: Running, make_account: AccountFactory, per_minute: int = 0
) -> tuple[str, auth_pb2.CreateApiKeyResponse]:
    account = await make_account("admin")
    token = (
        await running.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    ).access_token
    request = auth_pb2.CreateApiKeyRequest(
        name="counted",
        permissions=["geofences:read"],
        environment=auth_pb2.ENVIRONMENT_LIVE,
        rate_limit=auth_pb2.KeyRateLimit(requests_per_minute=per_minute),
    )
    return token, await running.stub.CreateApiKey(request, metadata=bearer(token))


async def test_usage_counts_charged_requests_per_day_and_minute(
    start_authsvc: ServerFactory, make_account: AccountFactory, tmp_path: Path
) -> None:
    plans = tmp_path / "plans.toml"
    plans.write_text('default = "p"\n[plans.p]\nrequests_per_minute = 100\n')
    clock = FakeClock()
    clock.advance(61 - clock.now().timestamp() % 60)
    running = await start_authsvc(clock, plans_file=plans)
    token, key = await _admin_and_key(running, make_account, per_minute=10)
    charge = auth_pb2.ValidateTokenRequest(token=key.secret, cost=3)
    for _ in range(3):
        await running.stub.ValidateToken(charge)  # 9
    await rpc_error(running.stub.ValidateToken(charge))  # refused: 12 > 10, not counted
    await running.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=key.secret))  # a check: not counted
    clock.advance(86400)
    await running.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=key.secret, cost=2))

    usage = await running.stub.GetApiKeyUsage(
        auth_pb2.GetApiKeyUsageRequest(id=key.api_key.id), metadata=bearer(token)
    )
    assert len(usage.days) == 30 and len(usage.minutes) == 60
    assert [count.requests for count in usage.days[-2:]] == [9, 2] and sum(
        c.requests for c in usage.days
    ) == 11
    assert usage.minutes[-1].requests == 2 and sum(c.requests for c in usage.minutes) == 2
    assert usage.days[-1].start.ToDatetime().date() == clock.now().date()
    starts = [count.start.seconds for count in usage.minutes]
    assert starts == sorted(starts) and starts[1] - starts[0] == 60

    stranger = await make_account("admin")
    stranger_token = (
        await running.stub.Login(auth_pb2.LoginRequest(email=stranger.email, password=stranger.password))
    ).access_token
    error = await rpc_error(
        running.stub.GetApiKeyUsage(
            auth_pb2.GetApiKeyUsageRequest(id=key.api_key.id), metadata=bearer(stranger_token)
        )
    )
    assert (error.code(), error.details()) == (grpc.StatusCode.NOT_FOUND, "API key not found")
