"""POST /api/v1/api-keys/{id}/rotate through the facade: a new secret for the same key, the old one
good for the overlap only; a bad overlap or a revoked key changes nothing."""

from __future__ import annotations

import pytest

from tests.conftest import AccountFactory, Running
from tests.facade.client import Facade

NEW_KEY = {"name": "rotated", "permissions": ["geofences:read"], "environment": "live"}


async def _admin_and_key(facade: Facade, make_account: AccountFactory) -> tuple[str, dict[str, str]]:
    account = await make_account("admin")
    token = str((await facade.login(account.email, account.password))["access_token"])
    created = await facade.call("POST", "/api/v1/api-keys", token=token, json_body=NEW_KEY)
    assert created.status == 201
    return token, created.json


async def test_rotate_returns_the_same_key_with_a_new_secret_and_the_old_one_lasts_the_overlap(
    facade: Facade, authsvc: Running, make_account: AccountFactory
) -> None:
    token, old = await _admin_and_key(facade, make_account)
    rotated = await facade.call(
        "POST", f"/api/v1/api-keys/{old['id']}/rotate", token=token, json_body={"overlap_seconds": 120}
    )
    assert rotated.status == 201 and rotated.headers["Cache-Control"] == "no-store"
    new = rotated.json
    assert new["id"] == old["id"] and new["key"] != old["key"] and new["prefix"] == new["key"][:12]
    assert {k: new[k] for k in ("name", "permissions", "environment", "expires_at", "created_at")} == {
        k: old[k] for k in ("name", "permissions", "environment", "expires_at", "created_at")
    }
    for secret in (old["key"], new["key"]):
        me = await facade.call("GET", "/api/v1/auth/me", token=secret)
        assert me.status == 200 and me.json["api_key_id"] == old["id"]
    listed = await facade.call("GET", "/api/v1/api-keys", token=token)
    assert all(old["key"] not in str(k) and new["key"] not in str(k) for k in listed.json["api_keys"])

    authsvc.clock.advance(120)
    assert (await facade.call("GET", "/api/v1/auth/me", token=old["key"])).status == 401
    assert (await facade.call("GET", "/api/v1/auth/me", token=new["key"])).status == 200


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"overlap_seconds": 604801}, "overlap_seconds must be between 0 and 604800"),
        ({"overlap_seconds": -1}, "overlap_seconds must be between 0 and 604800"),
        ({"overlap_seconds": "60"}, "Field overlap_seconds must be a whole number"),
        ({}, "Missing field: overlap_seconds"),
        ({"overlap_seconds": 60, "name": "x"}, "Unknown field: name"),
    ],
)
async def test_a_bad_overlap_is_a_400_and_the_old_secret_stays_the_only_one(
    facade: Facade, make_account: AccountFactory, body: dict[str, object], detail: str
) -> None:
    token, key = await _admin_and_key(facade, make_account)
    refused = await facade.call("POST", f"/api/v1/api-keys/{key['id']}/rotate", token=token, json_body=body)
    assert refused.status == 400 and refused.detail == detail
    listed = await facade.call("GET", "/api/v1/api-keys", token=token)
    assert [k["prefix"] for k in listed.json["api_keys"]] == [key["prefix"]]


async def test_a_revoked_or_unknown_key_is_404(facade: Facade, make_account: AccountFactory) -> None:
    token, key = await _admin_and_key(facade, make_account)
    assert (await facade.call("DELETE", f"/api/v1/api-keys/{key['id']}", token=token)).status == 204
    for key_id in (key["id"], "no-such-key"):
        refused = await facade.call(
            "POST", f"/api/v1/api-keys/{key_id}/rotate", token=token, json_body={"overlap_seconds": 0}
        )
        assert refused.status == 404 and refused.detail == "API key not found"
