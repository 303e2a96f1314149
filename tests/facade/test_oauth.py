"""RFC 7662 introspection and RFC 7009 revocation at /oauth2/*, through a real facade and
AuthService, asked by Authlib's OAuth2Session (a real client of those RFCs) and by hand for what a
library would never send: bad client authentication, malformed forms."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from typing import Any

import pytest
from authlib.integrations.requests_client import OAuth2Session

from tests.conftest import AccountFactory
from tests.facade.client import Facade

INTROSPECT, REVOKE = "/oauth2/introspect", "/oauth2/revoke"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def sessions() -> Iterator[list[OAuth2Session]]:
    made: list[OAuth2Session] = []
    yield made
    for session in made:
        session.close()


async def _admin(facade: Facade, make_account: AccountFactory) -> tuple[str, str, dict[str, Any]]:
    account = await make_account("admin")
    pair = await facade.login(account.email, account.password)
    return account.user_id, account.workspace_id, pair


async def _client_key(facade: Facade, admin_token: str, permissions: list[str]) -> dict[str, Any]:
    return await facade.create_api_key(admin_token, permissions, "live", "gateway")


def _authlib(key: dict[str, Any], sessions: list[OAuth2Session]) -> OAuth2Session:
    """Authlib's client, authenticating with client_secret_basic (its default): the key's id and
    secret."""
    session = OAuth2Session(client_id=key["id"], client_secret=key["key"])
    sessions.append(session)
    return session


async def test_authlib_introspects_access_tokens_and_api_keys(
    facade: Facade, make_account: AccountFactory, sessions: list[OAuth2Session]
) -> None:
    user_id, workspace_id, pair = await _admin(facade, make_account)
    client = _authlib(await _client_key(facade, pair["access_token"], ["tokens:introspect"]), sessions)
    other = await facade.create_api_key(pair["access_token"], ["geofences:read"], "test", "a reader")
    url = facade.base_url + INTROSPECT

    reply = await asyncio.to_thread(client.introspect_token, url, token=pair["access_token"])
    assert reply.status_code == 200 and reply.headers["Cache-Control"] == "no-store"
    claims = reply.json()
    assert claims["active"] is True and claims["token_type"] == "Bearer"
    assert (claims["sub"], claims["workspace_id"], claims["kind"]) == (user_id, workspace_id, "user")
    assert (claims["iss"], claims["aud"]) == ("authsvc", "authsvc")
    assert "tokens:introspect" in claims["scope"].split(" ") and claims["session_id"]
    assert claims["iat"] <= claims["exp"] and claims["exp"] - claims["iat"] == pair["expires_in"]

    as_key = (await asyncio.to_thread(client.introspect_token, url, token=other["key"])).json()
    assert as_key["active"] is True and as_key["kind"] == "api_key"
    assert as_key["sub"] == as_key["api_key_id"] == other["id"] and as_key["api_key_name"] == "a reader"
    assert (as_key["scope"], as_key["environment"], as_key["user_id"]) == ("geofences:read", "test", user_id)
    assert "exp" not in as_key and "aud" not in as_key  # a key without a lifetime; not a JWT

    # Anything inactive is {"active": false} and nothing more: unknown, refresh tokens, revoked keys.
    await facade.call("DELETE", f"/api/v1/api-keys/{other['id']}", token=pair["access_token"])
    for token in ("not-a-token", "sf_live_" + "A" * 40, pair["refresh_token"], other["key"]):
        hint = "access_token"
        reply = await asyncio.to_thread(client.introspect_token, url, token=token, token_type_hint=hint)
        assert reply.status_code == 200 and reply.json() == {"active": False}, token[:12]


async def test_authlib_revokes_refresh_and_access_tokens_ending_their_session(
    facade: Facade, make_account: AccountFactory, sessions: list[OAuth2Session]
) -> None:
    _, _, admin = await _admin(facade, make_account)
    client = _authlib(await _client_key(facade, admin["access_token"], ["tokens:introspect"]), sessions)
    url = facade.base_url + REVOKE
    account = await make_account("member")

    by_refresh = await facade.login(account.email, account.password)
    reply = await asyncio.to_thread(
        client.revoke_token, url, token=by_refresh["refresh_token"], token_type_hint="refresh_token"
    )
    assert reply.status_code == 200
    me = await facade.call("GET", "/api/v1/auth/me", token=by_refresh["access_token"])
    assert me.status == 401  # the session ended: its access token too
    refreshed = await facade.call(
        "POST", "/api/v1/auth/refresh", json_body={"refresh_token": by_refresh["refresh_token"]}
    )
    assert refreshed.status == 401

    by_access = await facade.login(account.email, account.password)
    reply = await asyncio.to_thread(client.revoke_token, url, token=by_access["access_token"])
    assert reply.status_code == 200
    assert (await facade.call("GET", "/api/v1/auth/me", token=by_access["access_token"])).status == 401

    # Unknown, invalid and already revoked tokens: 200, as RFC 7009 §2.2 says.
    for token in ("nonsense", by_access["access_token"], by_refresh["refresh_token"]):
        assert (await asyncio.to_thread(client.revoke_token, url, token=token)).status_code == 200
    # API keys have their own endpoint: unsupported_token_type, and the key keeps working.
    key = await facade.create_api_key(admin["access_token"], ["geofences:read"])
    reply = await asyncio.to_thread(client.revoke_token, url, token=key["key"])
    assert reply.status_code == 400 and reply.json()["error"] == "unsupported_token_type"
    assert (await facade.call("GET", "/api/v1/auth/me", token=key["key"])).status == 200


async def test_a_session_may_revoke_its_own_tokens_and_nobody_elses(
    facade: Facade, make_account: AccountFactory
) -> None:
    account = await make_account("viewer")
    mine = await facade.login(account.email, account.password)
    other = await facade.login(account.email, account.password)  # the same user, another session

    async def revoke(bearer: str, token: str) -> tuple[int, Any]:
        reply = await facade.call(
            "POST", REVOKE, data=f"token={token}", headers={**FORM, "Authorization": f"Bearer {bearer}"}
        )
        return reply.status, reply.json if reply.raw else None

    status, body = await revoke(mine["access_token"], other["refresh_token"])
    assert status == 403 and body["error"] == "unauthorized_client"
    assert (await facade.call("GET", "/api/v1/auth/me", token=other["access_token"])).status == 200
    assert (await revoke(mine["access_token"], mine["refresh_token"]))[0] == 200  # a public client's logout
    assert (await facade.call("GET", "/api/v1/auth/me", token=mine["access_token"])).status == 401
    assert (await facade.call("GET", "/api/v1/auth/me", token=other["access_token"])).status == 200


async def test_without_valid_client_authentication_it_is_401_with_a_challenge(
    facade: Facade, make_account: AccountFactory
) -> None:
    _, _, pair = await _admin(facade, make_account)
    key = await _client_key(facade, pair["access_token"], ["tokens:introspect"])
    reader = await facade.create_api_key(pair["access_token"], ["geofences:read"])
    form = f"token={pair['access_token']}"

    def basic(client_id: str, secret: str) -> str:
        return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()

    for path in (INTROSPECT, REVOKE):
        for authorization in (
            None,
            basic(key["id"], "sf_live_" + "B" * 40),  # a wrong secret
            basic(reader["id"], key["key"]),  # the secret of another key than the id named
            "Basic !!!",
            "Digest username=x",
        ):
            headers = {**FORM, **({"Authorization": authorization} if authorization else {})}
            reply = await facade.call("POST", path, data=form, headers=headers)
            assert reply.status == 401, (path, authorization)
            assert reply.json["error"] == "invalid_client" and "detail" not in reply.json
            assert reply.headers["WWW-Authenticate"].startswith("Basic realm=")
        bad_bearer = await facade.call(
            "POST", path, data=form, headers={**FORM, "Authorization": "Bearer sf_live_" + "C" * 40}
        )
        assert bad_bearer.status == 401 and bad_bearer.headers["WWW-Authenticate"].startswith("Bearer")
    # Authenticated, but without tokens:introspect: 403, and nothing is said about the token.
    denied = await facade.call(
        "POST", INTROSPECT, data=form, headers={**FORM, "Authorization": basic(reader["id"], reader["key"])}
    )
    assert denied.status == 403 and denied.json["error"] == "unauthorized_client"
    assert "active" not in denied.json


async def test_malformed_forms_are_400_invalid_request_and_change_nothing(
    facade: Facade, make_account: AccountFactory
) -> None:
    _, _, pair = await _admin(facade, make_account)
    key = await _client_key(facade, pair["access_token"], ["tokens:introspect"])
    auth = {"Authorization": f"Bearer {key['key']}"}
    victim = pair["refresh_token"]
    cases: list[tuple[dict[str, str], bytes | str]] = [
        ({**FORM, **auth}, b""),  # no token
        ({**FORM, **auth}, "token="),
        ({**FORM, **auth}, f"token={victim}&token={victim}"),  # a parameter twice
        ({"Content-Type": "application/json", **auth}, f'{{"token": "{victim}"}}'),
        ({**auth}, f"token={victim}"),  # no Content-Type
        ({**FORM, **auth}, b"token=%ff%fe"),  # not UTF-8 once decoded
        ({**FORM, **auth}, "token=" + "x" * 20000),
    ]
    for path in (INTROSPECT, REVOKE):
        for headers, body in cases:
            reply = await facade.call("POST", path, data=body, headers=headers)
            assert reply.status == 400, (path, body[:40])
            assert reply.json["error"] == "invalid_request" and reply.json["error_description"]
    two = await facade.session.post(
        facade.base_url + REVOKE,
        data=f"token={victim}",
        headers=[("Content-Type", FORM["Content-Type"]), *[("Authorization", auth["Authorization"])] * 2],
    )
    assert two.status == 400 and (await two.json())["error"] == "invalid_request"
    # None of that ended the session.
    refreshed = await facade.call("POST", "/api/v1/auth/refresh", json_body={"refresh_token": victim})
    assert refreshed.status == 200


async def test_a_revocation_through_one_facade_is_seen_at_once_by_ValidateToken(
    facade: Facade, make_account: AccountFactory
) -> None:
    """The revocation commits before the 200: the very next check refuses the token."""
    account = await make_account("member")
    pair = await facade.login(account.email, account.password)
    reply = await facade.call(
        "POST",
        REVOKE,
        data=f"token={pair['access_token']}",
        headers={**FORM, "Authorization": f"Bearer {pair['access_token']}"},
    )
    assert reply.status == 200 and reply.raw == b""

    verify = await facade.call("GET", "/api/v1/auth/verify?cost=0", token=pair["access_token"])
    assert verify.status == 401
