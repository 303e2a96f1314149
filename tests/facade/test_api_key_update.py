"""PATCH /api/v1/api-keys/{id}, and a key's name and metadata on /me and in forward auth."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from tests.conftest import AccountFactory
from tests.facade.client import Facade

METADATA = {"customer": "acme", "seats": 5, "nested": {"eu": True, "ratio": 0.25}, "tags": ["a", None]}


async def _admin(facade: Facade, make_account: AccountFactory) -> str:
    account = await make_account("admin")
    return str((await facade.login(account.email, account.password))["access_token"])


async def _key(facade: Facade, token: str, name: str = "ingest") -> dict[str, object]:
    body = {"name": name, "permissions": ["geofences:read", "geofences:write"], "environment": "live"}
    created = await facade.call(
        "POST", "/api/v1/api-keys", token=token, json_body={**body, "metadata": METADATA}
    )
    assert created.status == 201, created.raw
    return dict(created.json)


async def test_me_and_forward_auth_say_which_key_it_is(facade: Facade, make_account: AccountFactory) -> None:
    token = await _admin(facade, make_account)
    key = await _key(facade, token, "Producción ingest")
    assert key["metadata"] == METADATA  # whole numbers stay whole
    me = await facade.call("GET", "/api/v1/auth/me", token=str(key["key"]))
    assert me.json["api_key_name"] == "Producción ingest" and me.json["metadata"] == METADATA
    verified = await facade.call("GET", "/api/v1/auth/verify", token=str(key["key"]))
    assert verified.status == 204
    assert verified.headers["X-Auth-Key-Name"] == "Producci%C3%B3n ingest"
    assert unquote(verified.headers["X-Auth-Key-Name"]) == "Producción ingest"
    as_user = await facade.call("GET", "/api/v1/auth/me", token=token)
    assert as_user.json["api_key_name"] is None and as_user.json["metadata"] is None
    user_verified = await facade.call("GET", "/api/v1/auth/verify", token=token)
    assert "X-Auth-Key-Name" not in user_verified.headers


async def test_patch_changes_only_what_it_names(facade: Facade, make_account: AccountFactory) -> None:
    token = await _admin(facade, make_account)
    key = await _key(facade, token)
    path = f"/api/v1/api-keys/{key['id']}"
    changed = await facade.call(
        "PATCH",
        path,
        token=token,
        json_body={"permissions": ["geofences:read"], "metadata": {"customer": "globex"}},
    )
    assert changed.status == 200
    assert changed.json["permissions"] == ["geofences:read"] and changed.json["metadata"] == {
        "customer": "globex"
    }
    assert changed.json["name"] == "ingest" and "key" not in changed.json
    refused = await facade.call(
        "GET", "/api/v1/auth/verify?permissions=geofences:write", token=str(key["key"])
    )
    assert refused.status == 403
    cleared = await facade.call("PATCH", path, token=token, json_body={"metadata": None, "name": "renamed"})
    assert cleared.status == 200 and cleared.json["metadata"] == {} and cleared.json["name"] == "renamed"
    me = await facade.call("GET", "/api/v1/auth/me", token=str(key["key"]))
    assert me.json["api_key_name"] == "renamed" and me.json["metadata"] == {}


@pytest.mark.parametrize(
    ("body", "status", "detail"),
    [
        ({}, 400, "Nothing to change: give any of name, permissions, metadata, expires_at, rate_limit"),
        ({"name": None}, 400, "Field name must be a string"),
        ({"permissions": "geofences:read"}, 400, "Field permissions must be a list of strings"),
        ({"metadata": ["not", "an", "object"]}, 400, "Field metadata must be a JSON object"),
        ({"metadata": {"big": "x" * 3000}}, 400, "metadata must be at most 2048 bytes as JSON"),
        ({"environment": "test"}, 400, "Unknown field: environment"),
        ({"expires_at": "soon"}, 400, "Field expires_at must be an RFC 3339 time"),
        ({"permissions": ["geofences:read", "users:admin"]}, 400, "Unknown permission: users:admin"),
    ],
)
async def test_bad_patches_change_nothing(
    facade: Facade, make_account: AccountFactory, body: dict[str, object], status: int, detail: str
) -> None:
    token = await _admin(facade, make_account)
    key = await _key(facade, token)
    refused = await facade.call("PATCH", f"/api/v1/api-keys/{key['id']}", token=token, json_body=body)
    assert (refused.status, refused.detail) == (status, detail)
    listed = (await facade.call("GET", "/api/v1/api-keys", token=token)).json["api_keys"]
    assert [(k["name"], k["permissions"], k["metadata"]) for k in listed] == [
        ("ingest", ["geofences:read", "geofences:write"], METADATA)
    ]


async def test_a_revoked_key_cannot_be_patched(facade: Facade, make_account: AccountFactory) -> None:
    token = await _admin(facade, make_account)
    key = await _key(facade, token)
    assert (await facade.call("DELETE", f"/api/v1/api-keys/{key['id']}", token=token)).status == 204
    refused = await facade.call(
        "PATCH", f"/api/v1/api-keys/{key['id']}", token=token, json_body={"name": "x"}
    )
    assert (refused.status, refused.detail) == (404, "API key not found")


async def test_patching_in_permissions_the_caller_lacks_is_a_400(
    facade: Facade, make_account: AccountFactory
) -> None:
    member = await make_account("member")
    token = str((await facade.login(member.email, member.password))["access_token"])
    key = await _key(facade, token)
    refused = await facade.call(
        "PATCH", f"/api/v1/api-keys/{key['id']}", token=token, json_body={"permissions": ["workspace:admin"]}
    )
    assert (refused.status, refused.detail) == (400, "Permissions the caller does not hold: workspace:admin")
    listed = (await facade.call("GET", "/api/v1/api-keys", token=token)).json["api_keys"]
    assert [k["permissions"] for k in listed] == [["geofences:read", "geofences:write"]]
