"""API key lifetimes through the REST facade: set at creation, shown on the key and on /me, and
a 401 "API key expired" once over; malformed or out-of-bound lifetimes are a 400 that creates
nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import AccountFactory, Running
from tests.facade.client import Facade

NEW_KEY = {"name": "expiring", "permissions": ["geofences:read"], "environment": "live"}


async def _admin(facade: Facade, make_account: AccountFactory) -> str:
    account = await make_account("admin")
    return str((await facade.login(account.email, account.password))["access_token"])


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_a_key_with_a_lifetime_says_when_and_then_gets_401_api_key_expired(
    facade: Facade, authsvc: Running, make_account: AccountFactory
) -> None:
    token = await _admin(facade, make_account)
    created = await facade.call(
        "POST", "/api/v1/api-keys", token=token, json_body={**NEW_KEY, "expires_in_seconds": 600}
    )
    assert created.status == 201
    key = created.json
    ends = datetime.fromisoformat(key["expires_at"])
    assert abs(ends - (authsvc.clock.now() + timedelta(seconds=600))) < timedelta(seconds=1)
    me = await facade.call("GET", "/api/v1/auth/me", token=key["key"])
    assert me.status == 200 and me.json["expires_at"] == key["expires_at"]
    listed = await facade.call("GET", "/api/v1/api-keys", token=token)
    assert [k["expires_at"] for k in listed.json["api_keys"]] == [key["expires_at"]]

    authsvc.clock.advance(601)
    for path in ("/api/v1/auth/me", "/api/v1/auth/verify"):
        refused = await facade.call("GET", path, token=key["key"])
        assert refused.status == 401 and refused.detail == "API key expired"
        assert 'error_description="API key expired"' in refused.headers["WWW-Authenticate"]


async def test_expires_at_is_taken_as_given(
    facade: Facade, authsvc: Running, make_account: AccountFactory
) -> None:
    token = await _admin(facade, make_account)
    wanted = _rfc3339(authsvc.clock.now() + timedelta(days=30))
    created = await facade.call(
        "POST", "/api/v1/api-keys", token=token, json_body={**NEW_KEY, "expires_at": wanted}
    )
    assert created.status == 201 and created.json["expires_at"] == wanted
    plain = await facade.call("POST", "/api/v1/api-keys", token=token, json_body=NEW_KEY)
    assert plain.status == 201 and plain.json["expires_at"] is None


@pytest.mark.parametrize(
    ("extra", "detail"),
    [
        (
            {"expires_in_seconds": 60, "expires_at": "2099-01-01T00:00:00Z"},
            "Give expires_at or expires_in_seconds, not both",
        ),
        ({"expires_at": "next tuesday"}, "Field expires_at must be an RFC 3339 time"),
        ({"expires_at": 1767225600}, "Field expires_at must be a string"),
        ({"expires_in_seconds": "60"}, "Field expires_in_seconds must be a whole number"),
        ({"expires_in_seconds": 0}, "expires_in_seconds must be between 1 and 31536000"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at must be in the future"),
    ],
)
async def test_bad_lifetimes_are_a_400_that_creates_nothing(
    facade: Facade, make_account: AccountFactory, extra: dict[str, object], detail: str
) -> None:
    token = await _admin(facade, make_account)
    refused = await facade.call("POST", "/api/v1/api-keys", token=token, json_body={**NEW_KEY, **extra})
    assert refused.status == 400 and refused.detail == detail
    listed = await facade.call("GET", "/api/v1/api-keys", token=token)
    assert listed.json["api_keys"] == []
