"""Forward auth charges requests to a key's limits and its workspace's plan: RateLimit headers on
every charged answer, 429 with Retry-After once spent; keys get limits of their own over REST,
never above the plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import AccountFactory, Running, ServerFactory
from tests.facade.client import Facade
from tests.facade.conftest import FacadeFactory
from tests.support.clock import FakeClock

PLANS = 'default = "free"\n[plans.free]\nrequests_per_minute = 1000\nrequests_per_day = 100000\n'
ABOVE_PLAN = "rate_limit must not exceed the workspace's plan (1000 per minute, 100000 per day)"
NEW_KEY = {"name": "metered", "permissions": ["geofences:read"], "environment": "live"}


@pytest.fixture
async def metered(
    tmp_path: Path, start_authsvc: ServerFactory, start_facade: FacadeFactory
) -> tuple[Running, Facade]:
    plans = tmp_path / "plans.toml"
    plans.write_text(PLANS)
    clock = FakeClock()
    clock.advance(61 - clock.now().timestamp() % 60)  # a second into a minute
    running = await start_authsvc(clock, plans_file=plans)
    return running, await start_facade(f"127.0.0.1:{running.port}")


async def _admin(facade: Facade, make_account: AccountFactory) -> str:
    account = await make_account("admin")
    return str((await facade.login(account.email, account.password))["access_token"])


async def test_forward_auth_charges_one_request_each_and_says_what_is_left(
    metered: tuple[Running, Facade], make_account: AccountFactory
) -> None:
    running, facade = metered
    token = await _admin(facade, make_account)
    body = {**NEW_KEY, "rate_limit": {"requests_per_minute": 3}}
    created = await facade.call("POST", "/api/v1/api-keys", token=token, json_body=body)
    assert created.status == 201
    assert created.json["rate_limit"] == {"requests_per_minute": 3, "requests_per_day": None}
    secret = created.json["key"]

    seen = []
    for _ in range(3):
        allowed = await facade.call("GET", "/api/v1/auth/verify?permissions=geofences:read", token=secret)
        assert allowed.status == 204
        policy = allowed.headers["RateLimit-Policy"]
        assert '"key-minute";q=3;w=60' in policy and '"workspace-minute";q=1000;w=60' in policy
        assert '"workspace-day";q=100000;w=86400' in policy
        seen.append(next(i for i in allowed.headers["RateLimit"].split(", ") if i.startswith('"key-minute"')))
    assert [item.split(";")[1] for item in seen] == ["r=2", "r=1", "r=0"]

    refused = await facade.call("GET", "/api/v1/auth/verify?permissions=geofences:read", token=secret)
    assert (refused.status, refused.detail) == (429, "Rate limit exceeded")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert '"key-minute";r=0' in refused.headers["RateLimit"]
    checked = await facade.call("GET", "/api/v1/auth/verify?cost=0", token=secret)
    assert checked.status == 204 and "RateLimit" not in checked.headers  # a check, not charged
    me = await facade.call("GET", "/api/v1/auth/me", token=secret)
    assert me.status == 200  # /me only checks
    running.clock.advance(60)
    assert (await facade.call("GET", "/api/v1/auth/verify", token=secret)).status == 204


async def test_a_cost_charges_that_many(
    metered: tuple[Running, Facade], make_account: AccountFactory
) -> None:
    _, facade = metered
    token = await _admin(facade, make_account)
    spent = await facade.call("GET", "/api/v1/auth/verify?cost=1000", token=token)  # an access token
    assert spent.status == 204 and '"workspace-minute";r=0' in spent.headers["RateLimit"]
    refused = await facade.call("GET", "/api/v1/auth/verify", token=token)
    assert refused.status == 429 and "Retry-After" in refused.headers
    for bad in ("cost=-1", "cost=1001", "cost=x", "cost=1&cost=2"):
        reply = await facade.call("GET", f"/api/v1/auth/verify?{bad}", token=token)
        assert (reply.status, reply.detail) == (400, "cost must be a whole number from 0 to 1000")


@pytest.mark.parametrize(
    ("rate_limit", "detail"),
    [
        ({"requests_per_minute": 1001}, ABOVE_PLAN),
        ({"requests_per_day": 10**6}, ABOVE_PLAN),
        ({"requests_per_minute": "10"}, "Field rate_limit.requests_per_minute must be a whole number"),
        ({"per_minute": 10}, "Unknown field: rate_limit.per_minute"),
        ([10, 100], "Field rate_limit must be a JSON object"),
    ],
)  # fmt: skip
async def test_a_key_limit_above_the_plan_is_a_400_that_changes_nothing(
    metered: tuple[Running, Facade], make_account: AccountFactory, rate_limit: object, detail: str
) -> None:
    _, facade = metered
    token = await _admin(facade, make_account)
    refused = await facade.call(
        "POST", "/api/v1/api-keys", token=token, json_body={**NEW_KEY, "rate_limit": rate_limit}
    )
    assert (refused.status, refused.detail) == (400, detail)
    created = await facade.call("POST", "/api/v1/api-keys", token=token, json_body=NEW_KEY)
    patched = await facade.call(
        "PATCH", f"/api/v1/api-keys/{created.json['id']}", token=token, json_body={"rate_limit": rate_limit}
    )
    assert (patched.status, patched.detail) == (400, detail)
    listed = (await facade.call("GET", "/api/v1/api-keys", token=token)).json["api_keys"]
    assert [key["rate_limit"] for key in listed] == [None]


async def test_absurd_input_is_a_400_not_a_500(
    metered: tuple[Running, Facade], make_account: AccountFactory
) -> None:
    _, facade = metered
    token = await _admin(facade, make_account)
    reply = await facade.call("GET", "/api/v1/auth/verify?cost=" + "9" * 5000, token=token)
    assert (reply.status, reply.detail) == (400, "cost must be a whole number from 0 to 1000")
    body = '{"name": "x", "permissions": ["geofences:read"], "environment": "live", "metadata": {"n": 1e400}}'
    created = await facade.call(
        "POST", "/api/v1/api-keys", token=token, data=body, headers={"Content-Type": "application/json"}
    )
    assert (created.status, created.detail) == (400, "Request body must be valid JSON")
