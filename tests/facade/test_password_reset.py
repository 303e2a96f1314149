"""Password resets without mail (issue 16, item 7): a workspace admin issues a member's one-time
token (POST /api/v1/members/{user_id}/password-reset), and POST /api/v1/auth/password-reset/confirm
sets the new password once and ends every session of the member."""

from __future__ import annotations

import uuid
from typing import Any

from authsvc.domain.networks import parse_networks
from authsvc.domain.rate_limits import RateLimit
from tests.conftest import AccountFactory, Running, ServerFactory
from tests.facade.client import Facade
from tests.facade.conftest import FacadeFactory
from tests.support.addresses import unique_client_ip

CONFIRM = "/api/v1/auth/password-reset/confirm"
REQUEST = "/api/v1/auth/password-reset"
NEW = "a kettle of hawks over the river"
INVALID = "Invalid or expired token"


def _reset_path(user_id: str) -> str:
    return f"/api/v1/members/{user_id}/password-reset"


async def _issue(facade: Facade, admin_token: str, user_id: str) -> dict[str, Any]:
    reply = await facade.call("POST", _reset_path(user_id), token=admin_token)
    assert reply.status == 201, reply.raw
    assert reply.headers["Cache-Control"] == "no-store"
    body: dict[str, Any] = reply.json
    return body


async def _confirm(facade: Facade, token: str, password: str = NEW) -> tuple[int, str | None]:
    reply = await facade.call("POST", CONFIRM, json_body={"token": token, "new_password": password})
    return reply.status, (reply.detail if reply.status != 204 else None)


async def _login_status(facade: Facade, email: str, password: str) -> int:
    reply = await facade.call("POST", "/api/v1/auth/login", json_body={"email": email, "password": password})
    return reply.status


async def test_an_admins_token_sets_a_members_password_once_and_ends_their_sessions(
    facade: Facade, authsvc: Running, make_account: AccountFactory
) -> None:
    admin = await make_account("admin")
    member = await make_account("member", workspace=admin.workspace)
    admin_token = (await facade.login(admin.email, admin.password))["access_token"]
    sessions = [await facade.login(member.email, member.password) for _ in range(2)]

    issued = await _issue(facade, admin_token, member.user_id)
    assert set(issued) == {"token", "expires_at"} and issued["token"].startswith("pwr_")
    assert await _confirm(facade, issued["token"]) == (204, None)
    for pair in sessions:
        assert (await facade.call("GET", "/api/v1/auth/me", token=pair["access_token"])).status == 401
        refresh = {"refresh_token": pair["refresh_token"]}
        assert (await facade.call("POST", "/api/v1/auth/refresh", json_body=refresh)).status == 401
    assert await _login_status(facade, member.email, member.password) == 401
    assert await _login_status(facade, member.email, NEW) == 200
    assert (await facade.call("GET", "/api/v1/auth/me", token=admin_token)).status == 200  # not the admin's

    assert await _confirm(facade, issued["token"], "another fine new password") == (400, INVALID)  # used
    assert await _login_status(facade, member.email, NEW) == 200


async def test_tokens_expire_are_retired_by_the_next_and_weak_passwords_leave_them_usable(
    facade: Facade, authsvc: Running, make_account: AccountFactory
) -> None:
    admin = await make_account("admin")
    member = await make_account("member", workspace=admin.workspace)
    admin_token = (await facade.login(admin.email, admin.password))["access_token"]

    first = await _issue(facade, admin_token, member.user_id)
    second = await _issue(facade, admin_token, member.user_id)
    assert await _confirm(facade, first["token"]) == (400, INVALID)  # retired by the second
    assert await _confirm(facade, second["token"], "password") == (
        400,
        "Password must be at least 15 characters",
    )
    weak = "passwordpassword"
    assert await _confirm(facade, second["token"], weak) == (
        400,
        "Password is one of the most commonly used passwords",
    )
    assert await _login_status(facade, member.email, member.password) == 200  # nothing changed

    authsvc.clock.advance(30 * 60 + 1)
    assert await _confirm(facade, second["token"]) == (400, INVALID)  # expired
    assert await _login_status(facade, member.email, NEW) == 401


async def test_a_password_change_and_a_rotated_out_secret_cannot_use_or_make_tokens(
    facade: Facade, make_account: AccountFactory
) -> None:
    admin = await make_account("admin")
    member = await make_account("member", workspace=admin.workspace)
    admin_token = (await facade.login(admin.email, admin.password))["access_token"]
    issued = await _issue(facade, admin_token, member.user_id)
    member_token = (await facade.login(member.email, member.password))["access_token"]
    body = {"current_password": member.password, "new_password": NEW}
    assert (
        await facade.call("POST", "/api/v1/auth/password", token=member_token, json_body=body)
    ).status == 204
    assert await _confirm(facade, issued["token"], "whoever held the link") == (400, INVALID)

    key = await facade.create_api_key(admin_token, ["workspace:admin", "api_keys:write"])
    rotated = await facade.call(
        "POST", f"/api/v1/api-keys/{key['id']}/rotate", token=admin_token, json_body={"overlap_seconds": 600}
    )
    assert rotated.status == 201
    old_secret = await facade.call("POST", _reset_path(member.user_id), token=key["key"])
    assert old_secret.status == 403
    assert (await facade.call("POST", _reset_path(member.user_id), token=rotated.json["key"])).status == 201


async def test_made_up_tokens_are_refused_alike(facade: Facade) -> None:
    for token in ("", "pwr_", "pwr_" + "A" * 43, "x" * 47, "pwr_" + "é" * 43, str(uuid.uuid4())):
        assert await _confirm(facade, token) == (400, INVALID)
    missing = await facade.call("POST", CONFIRM, json_body={"token": "pwr_x"})
    assert missing.status == 400 and "new_password" in missing.detail


async def test_only_an_admin_of_the_members_workspace_issues_tokens(
    facade: Facade, make_account: AccountFactory
) -> None:
    admin, stranger_admin = await make_account("admin"), await make_account("admin")
    member = await make_account("member", workspace=admin.workspace)
    member_token = (await facade.login(member.email, member.password))["access_token"]
    stranger_token = (await facade.login(stranger_admin.email, stranger_admin.password))["access_token"]

    refused = await facade.call("POST", _reset_path(admin.user_id), token=member_token)
    assert refused.status == 403 and refused.detail == "Insufficient permissions"
    for user_id in (member.user_id, str(uuid.uuid4()), "not-an-id"):
        other = await facade.call("POST", _reset_path(user_id), token=stranger_token)
        assert other.status == 404 and other.detail == "Member not found"
    anonymous = await facade.call("POST", _reset_path(member.user_id))
    assert anonymous.status == 401


async def test_confirmations_are_limited_per_client(
    start_authsvc: ServerFactory, start_facade: FacadeFactory
) -> None:
    strict = await start_authsvc(password_reset_rate_limit=RateLimit(3, 3600))
    facade = await start_facade(f"127.0.0.1:{strict.port}", trusted_proxies=parse_networks("127.0.0.1"))
    headers = {"X-Forwarded-For": unique_client_ip()}
    statuses = []
    for _ in range(4):
        reply = await facade.call(
            "POST", CONFIRM, json_body={"token": "pwr_" + "B" * 43, "new_password": NEW}, headers=headers
        )
        statuses.append(reply.status)
    assert statuses == [400, 400, 400, 429] and int(reply.headers["Retry-After"]) > 0


async def test_asking_for_a_link_answers_202_for_any_address(
    start_authsvc: ServerFactory, start_facade: FacadeFactory, make_account: AccountFactory
) -> None:
    """Without mail configured nothing is sent; the answer is the same as with it (the mailing
    itself: tests/e2e/test_password_reset_mail.py)."""
    strict = await start_authsvc(password_reset_rate_limit=RateLimit(3, 3600))
    facade = await start_facade(f"127.0.0.1:{strict.port}", trusted_proxies=parse_networks("127.0.0.1"))
    account = await make_account()
    headers = {"X-Forwarded-For": unique_client_ip()}
    for address in (account.email, f"nobody-{uuid.uuid4().hex}@example.com"):
        reply = await facade.call("POST", REQUEST, json_body={"email": address}, headers=headers)
        assert reply.status == 202 and reply.raw == b""
    bad = await facade.call("POST", REQUEST, json_body={"email": "not an address"}, headers=headers)
    assert bad.status == 400 and bad.detail == "Invalid email address"
    limited = await facade.call("POST", REQUEST, json_body={"email": account.email}, headers=headers)
    assert limited.status == 429 and int(limited.headers["Retry-After"]) > 0
    other = {"X-Forwarded-For": unique_client_ip()}  # another network: the address's own limit
    for expected in (202, 202, 429):
        reply = await facade.call("POST", REQUEST, json_body={"email": account.email.upper()}, headers=other)
        assert reply.status == expected
