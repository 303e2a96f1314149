"""Invitations through the REST facade, without mail (issue 16, item 2): a workspace admin invites
an address (POST /api/v1/members/invitations), whoever holds the token accepts it once
(POST /api/v1/auth/invitations/accept): a new address sets its password, an existing account
proves its own and joins a second workspace. The mailed link: tests/e2e/test_password_reset_mail.py."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from authsvc.domain.networks import parse_networks
from authsvc.domain.rate_limits import RateLimit
from tests.conftest import AccountFactory, Running, ServerFactory
from tests.facade.client import Facade
from tests.facade.conftest import FacadeFactory
from tests.support.addresses import unique_client_ip

INVITE, ACCEPT = "/api/v1/members/invitations", "/api/v1/auth/invitations/accept"
PASSWORD = "a kettle of hawks over the river"
INVALID = "Invalid or expired token"


def _address() -> str:
    return f"new-{uuid.uuid4().hex[:12]}@example.com"


async def _admin_token(facade: Facade, make_account: AccountFactory) -> tuple[str, Any]:
    admin = await make_account("admin")
    return (await facade.login(admin.email, admin.password))["access_token"], admin


async def _invite(facade: Facade, token: str, email: str, role: str = "member") -> dict[str, Any]:
    reply = await facade.call("POST", INVITE, token=token, json_body={"email": email, "role": role})
    assert reply.status == 201, reply.raw
    assert reply.headers["Cache-Control"] == "no-store"
    body: dict[str, Any] = reply.json
    return body


async def _accept(facade: Facade, token: str, password: str = PASSWORD) -> Any:
    return await facade.call("POST", ACCEPT, json_body={"token": token, "password": password})


async def test_a_new_address_accepts_once_sets_its_password_and_joins_with_the_role(
    facade: Facade, authsvc: Running, make_account: AccountFactory
) -> None:
    admin_token, admin = await _admin_token(facade, make_account)
    address = _address()
    invited = await _invite(facade, admin_token, address.upper(), "viewer")
    assert set(invited) == {"invitation_id", "email", "role", "expires_at", "token"}
    assert invited["email"] == address and invited["role"] == "viewer" and invited["token"].startswith("inv_")
    expires = datetime.fromisoformat(invited["expires_at"])
    assert abs(expires - (authsvc.clock.now() + timedelta(hours=72))) < timedelta(seconds=1)

    listed = await facade.call("GET", INVITE, token=admin_token)
    assert listed.status == 200
    assert [(i["invitation_id"], i["email"], i["role"]) for i in listed.json["invitations"]] == [
        (invited["invitation_id"], address, "viewer")
    ]
    assert "token" not in listed.json["invitations"][0]

    weak = await _accept(facade, invited["token"], "short")
    assert weak.status == 400 and weak.detail.startswith("Password must be at least")  # still usable
    pair = await _accept(facade, invited["token"])
    assert pair.status == 200 and pair.headers["Cache-Control"] == "no-store"
    me = (await facade.call("GET", "/api/v1/auth/me", token=pair.json["access_token"])).json
    assert me["workspace_id"] == admin.workspace_id and "api_keys:write" not in me["permissions"]
    login = await facade.call(
        "POST", "/api/v1/auth/login", json_body={"email": address, "password": PASSWORD}
    )
    assert login.status == 200

    again = await _accept(facade, invited["token"], "yet another good password here")
    assert again.status == 400 and again.detail == INVALID  # single use
    members = (await facade.call("GET", "/api/v1/members", token=admin_token)).json["members"]
    assert {m["email"]: m["role"] for m in members}[address] == "viewer"
    assert (await facade.call("GET", INVITE, token=admin_token)).json["invitations"] == []
    twice = await facade.call(
        "POST", INVITE, token=admin_token, json_body={"email": address, "role": "member"}
    )
    assert twice.status == 409 and twice.detail == "Already a member of this workspace"


async def test_an_existing_account_proves_its_password_and_joins_a_second_workspace(
    facade: Facade, authsvc: Running, make_account: AccountFactory
) -> None:
    admin_token, admin = await _admin_token(facade, make_account)
    user = await make_account("admin")  # an admin of a workspace of their own
    invited = await _invite(facade, admin_token, user.email, "member")

    wrong = await _accept(facade, invited["token"], "not the password of the account")
    assert wrong.status == 401 and wrong.detail == "Invalid credentials"  # the invitation stays open
    pair = await _accept(facade, invited["token"], user.password)
    assert pair.status == 200
    me = (await facade.call("GET", "/api/v1/auth/me", token=pair.json["access_token"])).json
    assert me["workspace_id"] == admin.workspace_id and me["user_id"] == user.user_id
    assert "workspace:admin" not in me["permissions"]  # a member here, an admin at home
    workspaces = (await facade.call("GET", "/api/v1/auth/workspaces", token=pair.json["access_token"])).json
    assert {(w["workspace_id"], w["role"]) for w in workspaces["workspaces"]} == {
        (user.workspace_id, "admin"),
        (admin.workspace_id, "member"),
    }
    home = await facade.call(
        "POST",
        "/api/v1/auth/login",
        json_body={"email": user.email, "password": user.password, "workspace_id": user.workspace_id},
    )
    assert home.status == 200  # the password is unchanged, the home workspace untouched


async def test_bad_invitations_change_nothing_and_tokens_die_when_replaced_withdrawn_or_expired(
    facade: Facade, authsvc: Running, make_account: AccountFactory
) -> None:
    admin_token, admin = await _admin_token(facade, make_account)
    member = await make_account("member", workspace=admin.workspace)
    member_token = (await facade.login(member.email, member.password))["access_token"]
    address = _address()

    for body, status, detail in (
        ({"email": address, "role": "owner"}, 400, "Role must be one of admin, member, viewer"),
        ({"email": "not an address", "role": "member"}, 400, "Invalid email address"),
        ({"email": address}, 400, None),
        ({"email": member.email, "role": "viewer"}, 409, "Already a member of this workspace"),
    ):
        reply = await facade.call("POST", INVITE, token=admin_token, json_body=body)
        assert reply.status == status and (detail is None or reply.detail == detail), reply.raw
    refused = await facade.call(
        "POST", INVITE, token=member_token, json_body={"email": address, "role": "admin"}
    )
    assert refused.status == 403
    assert (await facade.call("GET", INVITE, token=member_token)).status == 403
    assert (await facade.call("GET", INVITE, token=admin_token)).json["invitations"] == []

    first = await _invite(facade, admin_token, address)
    second = await _invite(facade, admin_token, address, "admin")  # the address's newest only
    assert (await _accept(facade, first["token"])).detail == INVALID
    listed = (await facade.call("GET", INVITE, token=admin_token)).json["invitations"]
    assert [(i["invitation_id"], i["role"]) for i in listed] == [(second["invitation_id"], "admin")]

    other_admin_token, _ = await _admin_token(facade, make_account)
    path = f"{INVITE}/{second['invitation_id']}"
    assert (await facade.call("DELETE", path, token=other_admin_token)).status == 404  # not theirs
    assert (await facade.call("DELETE", path, token=member_token)).status == 403
    assert (await facade.call("DELETE", path, token=admin_token)).status == 204
    assert (await facade.call("DELETE", path, token=admin_token)).status == 404
    assert (await _accept(facade, second["token"])).detail == INVALID

    late = await _invite(facade, admin_token, address)
    authsvc.clock.advance(72 * 3600 + 1)
    assert (await _accept(facade, late["token"])).detail == INVALID
    for token in ("inv_" + "A" * 43, "garbage", ""):
        reply = await _accept(facade, token)
        assert reply.status == 400 and reply.detail == INVALID
    gone = await facade.call("POST", "/api/v1/auth/login", json_body={"email": address, "password": PASSWORD})
    assert gone.status == 401  # no account was made by any of it


async def test_inviting_and_accepting_are_limited_per_client_network_and_address(
    start_authsvc: ServerFactory, start_facade: FacadeFactory, make_account: AccountFactory
) -> None:
    strict = await start_authsvc(invitation_rate_limit=RateLimit(3, 3600))
    facade = await start_facade(f"127.0.0.1:{strict.port}", trusted_proxies=parse_networks("127.0.0.1"))
    admin = await make_account("admin")
    admin_token = (await facade.login(admin.email, admin.password))["access_token"]

    headers = {"X-Forwarded-For": unique_client_ip()}
    address = _address()
    statuses = []
    for _ in range(4):
        reply = await facade.call(
            "POST", INVITE, token=admin_token, json_body={"email": address, "role": "member"}, headers=headers
        )
        statuses.append(reply.status)
    assert statuses == [201, 201, 201, 429] and int(reply.headers["Retry-After"]) > 0
    other = {"X-Forwarded-For": unique_client_ip()}  # another network: the address's own limit
    again = await facade.call(
        "POST", INVITE, token=admin_token, json_body={"email": address, "role": "member"}, headers=other
    )
    assert again.status == 429

    accepting = {"X-Forwarded-For": unique_client_ip()}
    outcomes = []
    for _ in range(4):
        reply = await facade.call(
            "POST", ACCEPT, json_body={"token": "inv_" + "B" * 43, "password": PASSWORD}, headers=accepting
        )
        outcomes.append(reply.status)
    assert outcomes == [400, 400, 400, 429] and int(reply.headers["Retry-After"]) > 0


async def test_an_admins_open_invitations_are_withdrawn_when_they_are_demoted_or_removed(
    facade: Facade, authsvc: Running, make_account: AccountFactory
) -> None:
    owner_token, owner = await _admin_token(facade, make_account)
    second = await make_account("admin", workspace=owner.workspace)
    second_token = (await facade.login(second.email, second.password))["access_token"]
    invited = await _invite(facade, second_token, _address())
    by_owner = await _invite(facade, owner_token, _address())

    demoted = await facade.call(
        "PATCH", f"/api/v1/members/{second.user_id}", token=owner_token, json_body={"role": "member"}
    )
    assert demoted.status == 200
    assert (await _accept(facade, invited["token"])).detail == INVALID
    assert (await _accept(facade, by_owner["token"])).status == 200  # another admin's stands
    late = await facade.call(
        "POST", INVITE, token=second_token, json_body={"email": _address(), "role": "member"}
    )
    assert late.status == 401  # the demoted admin's session ended with the change
