"""Every public path, its success and the failures AuthService decides, through real sockets."""

from __future__ import annotations

from typing import Any

from tests.conftest import AccountFactory, Running, ServerFactory
from tests.facade.client import Facade
from tests.facade.conftest import FacadeFactory
from tests.support.clock import FakeClock

ME = "/api/v1/auth/me"
KEYS = "/api/v1/api-keys"
SETTINGS = "/api/v1/auth/settings"


async def _token(facade: Facade, make_account: AccountFactory, role: str = "admin") -> str:
    account = await make_account(role)
    token: str = (await facade.login(account.email, account.password))["access_token"]
    return token


def _new_key(**fields: Any) -> dict[str, Any]:
    return {"name": "ingest", "permissions": ["geofences:read"], "environment": "test", **fields}


async def test_login_refuses_bad_credentials_with_the_documented_text(
    facade: Facade, make_account: AccountFactory
) -> None:
    account = await make_account()
    for email, password in ((account.email, "wrong password"), ("nobody@example.com", account.password)):
        reply = await facade.call(
            "POST", "/api/v1/auth/login", json_body={"email": email, "password": password}
        )
        assert reply.status == 401 and reply.detail == "Invalid credentials"
        assert reply.headers["WWW-Authenticate"] == "Bearer"  # no token was presented

    malformed = await facade.call(
        "POST", "/api/v1/auth/login", json_body={"email": "not an email", "password": "x"}
    )
    assert malformed.status == 400 and malformed.detail == "Invalid email address"


async def test_refresh_rotates_and_refuses_garbage(facade: Facade, make_account: AccountFactory) -> None:
    account = await make_account()
    pair = await facade.login(account.email, account.password)
    rotated = await facade.call(
        "POST", "/api/v1/auth/refresh", json_body={"refresh_token": pair["refresh_token"]}
    )
    assert rotated.status == 200
    assert set(rotated.json) == {"access_token", "refresh_token", "expires_in", "token_type"}
    assert (await facade.call("GET", ME, token=rotated.json["access_token"])).status == 200

    for garbage in ("", "not-a-token", pair["access_token"]):
        reply = await facade.call("POST", "/api/v1/auth/refresh", json_body={"refresh_token": garbage})
        assert reply.status == 401 and reply.detail == "Invalid or expired token"


async def test_logout_ends_the_session_of_the_access_token(
    facade: Facade, make_account: AccountFactory
) -> None:
    account = await make_account()
    pair = await facade.login(account.email, account.password)

    reply = await facade.call("POST", "/api/v1/auth/logout", token=pair["access_token"])
    assert reply.status == 204 and reply.raw == b""

    me = await facade.call("GET", ME, token=pair["access_token"])
    assert me.status == 401 and me.detail == "Invalid or expired token"
    refresh = await facade.call(
        "POST", "/api/v1/auth/refresh", json_body={"refresh_token": pair["refresh_token"]}
    )
    assert refresh.status == 401
    anonymous = await facade.call("POST", "/api/v1/auth/logout")
    assert anonymous.status == 401 and anonymous.headers["WWW-Authenticate"] == "Bearer"


async def test_logout_with_an_api_key_is_a_bad_request(facade: Facade, make_account: AccountFactory) -> None:
    token = await _token(facade, make_account)
    key = (await facade.call("POST", KEYS, token=token, json_body=_new_key())).json["key"]
    reply = await facade.call("POST", "/api/v1/auth/logout", token=key)
    assert reply.status == 400 and "API key" in reply.detail


async def test_me_without_or_with_a_foreign_scheme_is_unauthenticated(facade: Facade) -> None:
    missing = await facade.call("GET", ME)
    assert missing.status == 401 and missing.headers["WWW-Authenticate"] == "Bearer"
    assert missing.detail == "Not authenticated"  # as on every other path without credentials
    basic = await facade.call("GET", ME, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status == 401 and basic.headers["WWW-Authenticate"] == (
        'Bearer error="invalid_token", error_description="Not authenticated"'
    )


async def test_an_expired_access_token_says_so(
    start_facade: FacadeFactory, start_authsvc: ServerFactory, make_account: AccountFactory
) -> None:
    clock = FakeClock()
    running = await start_authsvc(clock)
    facade = await start_facade(f"127.0.0.1:{running.port}")
    account = await make_account()
    pair = await facade.login(account.email, account.password)
    clock.advance(pair["expires_in"] + running.settings.jwt_leeway_seconds + 1)

    reply = await facade.call("GET", ME, token=pair["access_token"])
    assert reply.status == 401 and reply.detail == "Token expired"
    # RFC 6750's error_description repeats the detail, for clients and gateways that see no body.
    assert (
        reply.headers["WWW-Authenticate"] == 'Bearer error="invalid_token", error_description="Token expired"'
    )


async def test_api_keys_are_listed_without_secrets_and_revoked_once(
    facade: Facade, make_account: AccountFactory
) -> None:
    token = await _token(facade, make_account)
    created = (await facade.call("POST", KEYS, token=token, json_body=_new_key(name="one"))).json

    listed = await facade.call("GET", KEYS, token=token)
    assert listed.status == 200
    assert [key["id"] for key in listed.json["api_keys"]] == [created["id"]]
    assert set(listed.json["api_keys"][0]) == set(created) - {"key"}
    assert created["key"].encode() not in listed.raw and created["key"][12:].encode() not in listed.raw

    assert (await facade.call("DELETE", f"{KEYS}/{created['id']}", token=token)).status == 204
    listed_again = (await facade.call("GET", KEYS, token=token)).json["api_keys"]
    assert listed_again[0]["revoked_at"].endswith("Z")
    again = await facade.call("DELETE", f"{KEYS}/{created['id']}", token=token)
    assert again.status == 404 and again.detail == "API key not found"
    for unknown in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        assert (await facade.call("DELETE", f"{KEYS}/{unknown}", token=token)).status == 404


async def test_another_workspace_cannot_revoke_a_key(facade: Facade, make_account: AccountFactory) -> None:
    owner, stranger = await _token(facade, make_account), await _token(facade, make_account)
    key = (await facade.call("POST", KEYS, token=owner, json_body=_new_key())).json
    assert (await facade.call("DELETE", f"{KEYS}/{key['id']}", token=stranger)).status == 404
    assert (await facade.call("GET", ME, token=key["key"])).status == 200


async def test_missing_permissions_are_403_insufficient_scope(
    facade: Facade, make_account: AccountFactory
) -> None:
    viewer = await _token(facade, make_account, "viewer")
    member = await _token(facade, make_account, "member")
    refused = [
        await facade.call("POST", KEYS, token=viewer, json_body=_new_key()),
        await facade.call("DELETE", f"{KEYS}/00000000-0000-0000-0000-000000000000", token=viewer),
        await facade.call("POST", KEYS, token=member, json_body=_new_key(permissions=["workspace:admin"])),
        await facade.call("GET", SETTINGS, token=member),
        await facade.call("PATCH", SETTINGS, token=member, json_body={"access_token_ttl_seconds": 600}),
    ]
    for reply in refused:
        assert reply.status == 403 and reply.detail == "Insufficient permissions"
        assert reply.headers["WWW-Authenticate"] == (
            'Bearer error="insufficient_scope", error_description="Insufficient permissions"'
        )
    assert (await facade.call("GET", KEYS, token=viewer)).json == {"api_keys": [], "next_page_token": ""}


async def test_bad_key_fields_are_400_with_authsvc_text(facade: Facade, make_account: AccountFactory) -> None:
    token = await _token(facade, make_account)
    bad_environment = await facade.call("POST", KEYS, token=token, json_body=_new_key(environment="prod"))
    assert bad_environment.status == 400 and bad_environment.detail == "Environment must be 'live' or 'test'"
    no_name = await facade.call("POST", KEYS, token=token, json_body=_new_key(name=" "))
    assert no_name.status == 400 and no_name.detail == "Name is required"


async def test_workspace_admins_read_and_change_the_token_lifetime(
    facade: Facade, make_account: AccountFactory
) -> None:
    account = await make_account("admin")
    token = (await facade.login(account.email, account.password))["access_token"]

    current = await facade.call("GET", SETTINGS, token=token)
    assert current.status == 200
    assert current.json == {"workspace_id": account.workspace_id, "access_token_ttl_seconds": 86400}
    changed = await facade.call("PATCH", SETTINGS, token=token, json_body={"access_token_ttl_seconds": 900})
    assert changed.status == 200 and changed.json["access_token_ttl_seconds"] == 900
    assert (await facade.login(account.email, account.password))["expires_in"] == 900

    too_short = await facade.call("PATCH", SETTINGS, token=token, json_body={"access_token_ttl_seconds": 10})
    assert too_short.status == 400 and "between 300 and 2592000" in too_short.detail


async def test_healthz_is_200_while_the_process_runs(facade: Facade) -> None:
    reply = await facade.call("GET", "/healthz")
    assert reply.status == 200 and reply.json == {"status": "ok"}


async def test_readyz_is_200_when_authsvc_and_its_database_are_up(
    start_facade: FacadeFactory, authsvc_with_health: str
) -> None:
    facade = await start_facade(authsvc_with_health)
    reply = await facade.call("GET", "/readyz")
    assert reply.status == 200 and reply.json == {"status": "ready"}


async def test_readyz_is_503_when_authsvc_serves_no_health(facade: Facade, authsvc: Running) -> None:
    reply = await facade.call("GET", "/readyz")
    assert reply.status == 503 and reply.detail == "Service unavailable"
