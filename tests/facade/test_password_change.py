"""POST /api/v1/auth/password (issue 16, items 6 and 8): the current password proven, the new one
through the policy, every other session ended and the caller's kept; refusals change nothing."""

from __future__ import annotations

from typing import Any

import pytest

from authsvc.domain.rate_limits import RateLimit
from tests.conftest import AccountFactory, Running
from tests.facade.client import Facade

PASSWORD = "/api/v1/auth/password"
NEW = "violet staircase under the moon"


async def _login_status(facade: Facade, email: str, password: str) -> int:
    reply = await facade.call("POST", "/api/v1/auth/login", json_body={"email": email, "password": password})
    return reply.status


async def _me(facade: Facade, token: str) -> int:
    return (await facade.call("GET", "/api/v1/auth/me", token=token)).status


async def test_a_changed_password_ends_every_other_session(
    facade: Facade, authsvc: Running, make_account: AccountFactory
) -> None:
    account, stranger = await make_account(), await make_account()
    elsewhere = await facade.login(account.email, account.password)
    here = await facade.login(account.email, account.password)
    theirs = await facade.login(stranger.email, stranger.password)
    body = {"current_password": account.password, "new_password": NEW}

    changed = await facade.call("POST", PASSWORD, token=here["access_token"], json_body=body)
    assert changed.status == 204 and changed.raw == b""
    assert await _me(facade, elsewhere["access_token"]) == 401
    refresh = {"refresh_token": elsewhere["refresh_token"]}
    assert (await facade.call("POST", "/api/v1/auth/refresh", json_body=refresh)).status == 401
    assert await _me(facade, here["access_token"]) == 200
    refreshed = await facade.call(
        "POST", "/api/v1/auth/refresh", json_body={"refresh_token": here["refresh_token"]}
    )
    assert refreshed.status == 200  # the caller's session goes on
    assert await _me(facade, theirs["access_token"]) == 200
    assert await _login_status(facade, account.email, account.password) == 401
    assert await _login_status(facade, account.email, NEW) == 200
    assert await _login_status(facade, stranger.email, stranger.password) == 200


@pytest.mark.parametrize(
    ("new_password", "detail"),
    [
        ("short one", "Password must be at least 15 characters"),
        ("ü" * 37, "Password must be at most 72 bytes in UTF-8"),
        ("{email}", "Password must not be the email address"),
        ("{email}2024!", "Password must not be the email address"),
        ("Password123456789!", "Password is one of the most commonly used passwords"),
        ("iloveyouiloveyou", "Password is one of the most commonly used passwords"),
        ("aaaaaaaaaaaaaaaaaaaa", "Password must not be one or two characters repeated"),
        ("1234567890123456", "Password must not be a run of consecutive characters"),
    ],
)
async def test_a_weak_new_password_is_refused_with_its_reason(
    facade: Facade, make_account: AccountFactory, new_password: str, detail: str
) -> None:
    account = await make_account()
    other = await facade.login(account.email, account.password)
    here = await facade.login(account.email, account.password)
    body = {"current_password": account.password, "new_password": new_password.format(email=account.email)}
    refused = await facade.call("POST", PASSWORD, token=here["access_token"], json_body=body)
    assert refused.status == 400 and refused.detail == detail
    assert await _me(facade, other["access_token"]) == 200  # nothing ended
    assert await _login_status(facade, account.email, account.password) == 200  # nothing changed


async def test_a_wrong_current_password_changes_nothing_and_counts_as_a_failed_login(
    facade: Facade, start_facade: Any, start_authsvc: Any, make_account: AccountFactory
) -> None:
    account = await make_account()
    here = await facade.login(account.email, account.password)
    other = await facade.login(account.email, account.password)
    body = {"current_password": "not the password at all", "new_password": NEW}
    refused = await facade.call("POST", PASSWORD, token=here["access_token"], json_body=body)
    assert refused.status == 400 and refused.detail == "Current password is incorrect"
    assert await _me(facade, other["access_token"]) == 200
    assert await _login_status(facade, account.email, NEW) == 401
    assert await _login_status(facade, account.email, account.password) == 200

    # With an account failure limit of 3 an hour, guesses through this path run out like logins.
    strict = await start_authsvc(
        login_account_failure_limit=RateLimit(3, 3600), login_known_network_seconds=0
    )
    guarded = await start_facade(f"127.0.0.1:{strict.port}")
    token = (await guarded.login(account.email, account.password))["access_token"]
    statuses = [(await guarded.call("POST", PASSWORD, token=token, json_body=body)).status for _ in range(4)]
    assert statuses == [400, 400, 400, 429]
    assert await _login_status(guarded, account.email, account.password) == 429  # the same budget


async def test_password_change_needs_an_access_token_and_a_whole_body(
    facade: Facade, make_account: AccountFactory
) -> None:
    account = await make_account()
    pair = await facade.login(account.email, account.password)
    key = await facade.create_api_key(pair["access_token"], ["api_keys:read"])
    body = {"current_password": account.password, "new_password": NEW}
    with_key = await facade.call("POST", PASSWORD, token=key["key"], json_body=body)
    assert (
        with_key.status == 400
        and with_key.detail == "Changing the password needs an access token, not an API key"
    )
    assert (await facade.call("POST", PASSWORD, json_body=body)).status == 401
    missing = await facade.call("POST", PASSWORD, token=pair["access_token"], json_body={"new_password": NEW})
    assert missing.status == 400 and "current_password" in missing.detail
    assert await _login_status(facade, account.email, account.password) == 200
