"""Request limits per plan and per key, charged by ValidateToken(s) with a cost: admitted until a
window's budget is spent, then RESOURCE_EXHAUSTED with RetryInfo and ratelimit-* metadata until
the window moves; replicas share one budget."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import pytest
from google.protobuf.struct_pb2 import Struct
from grpc_status import rpc_status

from authsvc.adapters.database import Database
from authsvc.adapters.pg_workspace_plans import set_plan
from authsvc.v1 import auth_pb2
from tests.conftest import AccountFactory, Running, ServerFactory
from tests.support.clock import FakeClock
from tests.support.eventually import eventually
from tests.support.grpc_client import bearer, rpc_error, status_of

PLANS = """
default = "free"

[plans.free]
requests_per_minute = 1000
requests_per_day = 100000

[plans.tiny]
requests_per_minute = 5
"""


@pytest.fixture
def plans_file(tmp_path: Path) -> Path:
    path = tmp_path / "plans.toml"
    path.write_text(PLANS)
    return path


def _at_minute_start(clock: FakeClock) -> FakeClock:
    """A clock a second into a minute, so a test's requests fall in one window."""
    clock.advance(61 - clock.now().timestamp() % 60)
    return clock


async def _admin(running: Running, make_account: AccountFactory) -> str:
    account = await make_account("admin")
    reply = await running.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    return reply.access_token


async def _key(running: Running, token: str, per_minute: int = 0, per_day: int = 0) -> str:
    request = auth_pb2.CreateApiKeyRequest(
        name="metered",
        permissions=["geofences:read"],
        environment=auth_pb2.ENVIRONMENT_LIVE,
        rate_limit=auth_pb2.KeyRateLimit(requests_per_minute=per_minute, requests_per_day=per_day),
    )
    return (await running.stub.CreateApiKey(request, metadata=bearer(token))).secret


def _charge(secret: str, cost: int = 1) -> auth_pb2.ValidateTokenRequest:
    return auth_pb2.ValidateTokenRequest(token=secret, cost=cost)


async def test_a_keys_own_limit_is_charged_then_refused_until_the_window_moves(
    start_authsvc: ServerFactory, make_account: AccountFactory, plans_file: Path
) -> None:
    running = await start_authsvc(_at_minute_start(FakeClock()), plans_file=plans_file)
    secret = await _key(running, await _admin(running, make_account), per_minute=10)
    remaining = []
    for _ in range(10):
        reply = await running.stub.ValidateToken(_charge(secret))
        limits = {state.policy: state for state in reply.rate_limits}
        assert set(limits) == {"workspace-minute", "workspace-day", "key-minute"}
        assert (limits["key-minute"].limit, limits["key-minute"].window_seconds) == (10, 60)
        remaining.append(limits["key-minute"].remaining)
    assert remaining == list(range(9, -1, -1))

    call = running.stub.ValidateToken(_charge(secret))
    error = await rpc_error(call)
    assert (error.code(), error.details()) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "Rate limit exceeded")
    trailers = dict(error.trailing_metadata())
    assert trailers["ratelimit-policy"] == "key-minute" and trailers["ratelimit-remaining"] == "0"
    assert trailers["ratelimit-limit"] == "10" and 1 <= int(trailers["retry-after"]) <= 60
    status = rpc_status.from_call(error)
    assert status is not None and status.details[0].type_url.endswith("google.rpc.RetryInfo")
    checked = await running.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=secret))
    assert checked.principal.api_key_name == "metered" and not checked.rate_limits  # cost 0: a check only

    running.clock.advance(60)
    assert (await running.stub.ValidateToken(_charge(secret))).principal.api_key_name == "metered"


async def test_the_workspace_plan_limits_access_tokens_and_keys_together(
    start_authsvc: ServerFactory, make_account: AccountFactory, plans_file: Path
) -> None:
    running = await start_authsvc(_at_minute_start(FakeClock()), plans_file=plans_file)
    token = await _admin(running, make_account)
    secret = await _key(running, token)
    assert (await running.stub.ValidateToken(_charge(token, cost=600))).principal.kind
    assert (await running.stub.ValidateToken(_charge(secret, cost=400))).principal.kind
    error = await rpc_error(running.stub.ValidateToken(_charge(secret)))
    assert dict(error.trailing_metadata())["ratelimit-policy"] == "workspace-minute"
    error = await rpc_error(running.stub.ValidateToken(_charge(token)))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_batched_checks_are_charged_alike(
    start_authsvc: ServerFactory, make_account: AccountFactory, plans_file: Path
) -> None:
    running = await start_authsvc(_at_minute_start(FakeClock()), plans_file=plans_file)
    secret = await _key(running, await _admin(running, make_account), per_minute=2)
    reply = await running.stub.ValidateTokens(auth_pb2.ValidateTokensRequest(checks=[_charge(secret)] * 3))
    outcomes = [verdict.WhichOneof("outcome") for verdict in reply.verdicts]
    assert sorted(outcomes) == ["principal", "principal", "refusal"]
    refused = next(verdict for verdict in reply.verdicts if verdict.HasField("refusal"))
    assert refused.refusal.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert refused.refusal.details[0].type_url.endswith("google.rpc.RetryInfo")
    assert {state.policy: state.remaining for state in refused.rate_limits}["key-minute"] == 0


async def test_a_refusal_tells_what_the_workspace_has_left_as_of_now(
    start_authsvc: ServerFactory, make_account: AccountFactory, plans_file: Path
) -> None:
    running = await start_authsvc(_at_minute_start(FakeClock()), plans_file=plans_file)
    token = await _admin(running, make_account)
    spent, other = await _key(running, token, per_minute=1), await _key(running, token)
    await running.stub.ValidateToken(_charge(spent))

    async def workspace_left_when_refused() -> int:
        (verdict,) = (
            await running.stub.ValidateTokens(auth_pb2.ValidateTokensRequest(checks=[_charge(spent)]))
        ).verdicts
        assert verdict.refusal.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
        return {state.policy: state.remaining for state in verdict.rate_limits}["workspace-minute"]

    assert await workspace_left_when_refused() == 999  # the clock stands still: all in one second
    assert await workspace_left_when_refused() == 999  # a refusal takes nothing
    await running.stub.ValidateToken(_charge(other, cost=5))
    assert await workspace_left_when_refused() == 994  # another key's spending shows at once


@pytest.mark.parametrize(
    ("per_minute", "per_day", "detail"),
    [
        (1001, 0, "rate_limit must not exceed the workspace's plan (1000 per minute, 100000 per day)"),
        (0, 100001, "rate_limit must not exceed the workspace's plan (1000 per minute, 100000 per day)"),
        (-1, 0, "rate_limit values must not be negative"),
    ],
)
async def test_a_key_cannot_be_given_more_than_its_plan(
    start_authsvc: ServerFactory,
    make_account: AccountFactory,
    plans_file: Path,
    per_minute: int,
    per_day: int,
    detail: str,
) -> None:
    running = await start_authsvc(plans_file=plans_file)
    token = await _admin(running, make_account)
    error = await rpc_error(_key(running, token, per_minute, per_day))
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, detail)
    listed = await running.stub.ListApiKeys(auth_pb2.ListApiKeysRequest(), metadata=bearer(token))
    assert list(listed.api_keys) == []


async def test_two_replicas_admit_exactly_the_limit_between_them(
    start_authsvc: ServerFactory, make_account: AccountFactory, plans_file: Path
) -> None:
    clock = _at_minute_start(FakeClock())
    a = await start_authsvc(clock, plans_file=plans_file)
    b = await start_authsvc(clock, plans_file=plans_file)
    secret = await _key(a, await _admin(a, make_account), per_minute=100)
    check = auth_pb2.ValidateTokenRequest(token=secret)  # cost 0: a check, nothing charged

    async def known() -> bool:
        return (await status_of(b.stub.ValidateToken(check))) == grpc.StatusCode.OK

    await eventually(known)  # B hears of the new key by notice, a moment after A

    async def admitted(replica: Running, count: int) -> int:
        results = await asyncio.gather(
            *(replica.stub.ValidateToken(_charge(secret)) for _ in range(count)), return_exceptions=True
        )
        refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
        assert all(r.code() == grpc.StatusCode.RESOURCE_EXHAUSTED for r in refused)
        return count - len(refused)

    total = 0
    for _ in range(10):  # 1,000 requests, half on each replica, in waves
        total += sum(await asyncio.gather(admitted(a, 50), admitted(b, 50)))
    assert 100 - 2 * 2 * 5 <= total <= 100  # at most 2 leases of 5 per replica left unspent
    assert await admitted(a, 5) == 0 and await admitted(b, 5) == 0
    clock.advance(60)
    assert await admitted(a, 5) == 5 and await admitted(b, 5) == 5


async def test_a_plan_raised_mid_window_is_followed_at_once(
    start_authsvc: ServerFactory, make_account: AccountFactory, plans_file: Path, database: Database
) -> None:
    running = await start_authsvc(_at_minute_start(FakeClock()), plans_file=plans_file)
    account = await make_account("admin")
    token = (
        await running.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    ).access_token
    assert await set_plan(database, account.workspace, "tiny")
    await _until(lambda: _spent(running, token, 5))  # the notice reaches the replica
    error = await rpc_error(running.stub.ValidateToken(_charge(token)))
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # tiny's 5/min are spent
    assert await set_plan(database, account.workspace, "free")
    await _until(lambda: _spent(running, token, 1))  # free's 1,000/min: this window too


async def _spent(running: Running, token: str, cost: int) -> bool:
    try:
        await running.stub.ValidateToken(_charge(token, cost))
    except grpc.aio.AioRpcError:
        return False
    return True


async def _until(check: Callable[[], Awaitable[bool]], seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "not within the time"
        await asyncio.sleep(0.05)


async def test_a_cost_above_a_limit_is_an_invalid_argument_and_spends_nothing(
    start_authsvc: ServerFactory, make_account: AccountFactory, plans_file: Path
) -> None:
    running = await start_authsvc(_at_minute_start(FakeClock()), plans_file=plans_file)
    secret = await _key(running, await _admin(running, make_account), per_minute=10)
    error = await rpc_error(running.stub.ValidateToken(_charge(secret, cost=11)))
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "cost 11 is more than the key-minute limit (10)",
    )
    reply = await running.stub.ValidateToken(_charge(secret, cost=10))
    assert {s.policy: s.remaining for s in reply.rate_limits}["key-minute"] == 0


async def test_metadata_that_is_no_json_value_is_an_invalid_argument(
    authsvc: Running, make_account: AccountFactory
) -> None:
    token = await _admin(authsvc, make_account)
    metadata = Struct()
    metadata.update({"ratio": float("nan")})
    request = auth_pb2.CreateApiKeyRequest(
        name="nan", permissions=["geofences:read"], environment=auth_pb2.ENVIRONMENT_LIVE, metadata=metadata
    )
    error = await rpc_error(authsvc.stub.CreateApiKey(request, metadata=bearer(token)))
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "metadata must hold JSON values only (finite numbers)",
    )
