"""The public authentication page's own flow, through the facade, a real AuthService and PostgreSQL."""

from __future__ import annotations

from tests.conftest import AccountFactory
from tests.facade.client import Facade


async def test_login_me_refresh_api_key_and_revocation(facade: Facade, make_account: AccountFactory) -> None:
    account = await make_account("admin")

    pair = await facade.login(account.email, account.password)
    assert set(pair) == {"access_token", "refresh_token", "expires_in", "token_type"}
    assert pair["token_type"] == "Bearer" and pair["expires_in"] == 86400

    me = await facade.call("GET", "/api/v1/auth/me", token=pair["access_token"])
    assert me.status == 200
    assert me.json["kind"] == "user" and me.json["user_id"] == account.user_id
    assert me.json["workspace_id"] == account.workspace_id
    assert "api_keys:write" in me.json["permissions"]
    assert me.json["session_id"] and me.json["api_key_id"] is None
    assert me.json["expires_at"].endswith("Z")

    refreshed = await facade.call(
        "POST", "/api/v1/auth/refresh", json_body={"refresh_token": pair["refresh_token"]}
    )
    assert refreshed.status == 200 and refreshed.headers["Cache-Control"] == "no-store"
    new_pair = refreshed.json
    assert new_pair["refresh_token"] != pair["refresh_token"] and new_pair["token_type"] == "Bearer"

    created = await facade.call(
        "POST",
        "/api/v1/api-keys",
        token=new_pair["access_token"],
        json_body={"name": "CI", "permissions": ["geofences:read"], "environment": "live"},
    )
    assert created.status == 201 and created.headers["Cache-Control"] == "no-store"
    key = created.json
    assert key["key"].startswith("sf_live_") and key["prefix"] == key["key"][:12]
    assert key["permissions"] == ["geofences:read"] and key["created_by"] == account.user_id
    assert key["revoked_at"] is None and key["last_used_at"] is None and key["created_at"].endswith("Z")

    as_key = await facade.call("GET", "/api/v1/auth/me", token=key["key"])
    assert as_key.status == 200
    assert as_key.json["kind"] == "api_key" and as_key.json["api_key_id"] == key["id"]
    assert as_key.json["user_id"] == account.user_id and as_key.json["expires_at"] is None

    revoked = await facade.call("DELETE", f"/api/v1/api-keys/{key['id']}", token=new_pair["access_token"])
    assert revoked.status == 204 and revoked.raw == b""

    refused = await facade.call("GET", "/api/v1/auth/me", token=key["key"])
    assert refused.status == 401
    assert refused.detail == "Invalid or expired token"
    assert refused.headers["WWW-Authenticate"] == (
        'Bearer error="invalid_token", error_description="Invalid or expired token"'
    )
