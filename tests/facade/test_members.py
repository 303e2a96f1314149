"""A workspace's members through the REST facade (issue 16, items 1 and 3): GET /api/v1/members,
PATCH /api/v1/members/{user_id} {"role"}, DELETE /api/v1/members/{user_id}; the last admin stays."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.conftest import AccountFactory, Running
from tests.facade.client import Facade

MEMBERS = "/api/v1/members"


async def _token(facade: Facade, email: str, password: str) -> str:
    return str((await facade.login(email, password))["access_token"])


async def _me(facade: Facade, token: str) -> Any:
    return await facade.call("GET", "/api/v1/auth/me", token=token)


async def test_admins_and_members_read_list_the_workspace_oldest_first(
    facade: Facade, authsvc: Running, make_account: AccountFactory
) -> None:
    admin = await make_account("admin")
    authsvc.clock.advance(1)
    member = await make_account("member", workspace=admin.workspace)
    authsvc.clock.advance(1)
    viewer = await make_account("viewer", workspace=admin.workspace)
    await make_account("admin")  # another workspace: never listed here
    admin_token = await _token(facade, admin.email, admin.password)

    listed = await facade.call("GET", MEMBERS, token=admin_token)
    assert listed.status == 200 and listed.json["next_page_token"] == ""
    members = listed.json["members"]
    assert [(m["user_id"], m["email"], m["role"], m["status"]) for m in members] == [
        (admin.user_id, admin.email, "admin", "active"),
        (member.user_id, member.email, "member", "active"),
        (viewer.user_id, viewer.email, "viewer", "active"),
    ]
    assert members[0]["last_login_at"] is not None and members[1]["last_login_at"] is None
    assert members[0]["joined_at"] < members[1]["joined_at"] < members[2]["joined_at"]

    viewer_token = await _token(facade, viewer.email, viewer.password)  # viewers hold members:read
    as_viewer = (await facade.call("GET", MEMBERS, token=viewer_token)).json["members"]
    assert [m["user_id"] for m in as_viewer] == [m["user_id"] for m in members]
    page = await facade.call("GET", f"{MEMBERS}?page_size=2", token=viewer_token)
    assert len(page.json["members"]) == 2 and page.json["next_page_token"]
    rest = await facade.call(
        "GET", f"{MEMBERS}?page_size=2&page_token={page.json['next_page_token']}", token=viewer_token
    )
    assert [m["user_id"] for m in rest.json["members"]] == [viewer.user_id]

    key = await facade.create_api_key(admin_token, ["geofences:read"])  # a key without members:read
    refused = await facade.call("GET", MEMBERS, token=key["key"])
    assert refused.status == 403 and refused.detail == "Insufficient permissions"


async def test_a_role_change_ends_the_members_sessions_and_narrows_their_keys(
    facade: Facade, make_account: AccountFactory
) -> None:
    admin = await make_account("admin")
    other = await make_account("admin", workspace=admin.workspace)
    admin_token = await _token(facade, admin.email, admin.password)
    their_token = await _token(facade, other.email, other.password)
    their_key = await facade.create_api_key(their_token, ["geofences:read", "workspace:admin"])

    changed = await facade.call(
        "PATCH", f"{MEMBERS}/{other.user_id}", token=admin_token, json_body={"role": "viewer"}
    )
    assert (
        changed.status == 200
        and changed.json["role"] == "viewer"
        and changed.json["user_id"] == other.user_id
    )
    assert (await _me(facade, their_token)).status == 401  # the token carried the admin's scope
    key_now = await _me(facade, their_key["key"])
    assert key_now.status == 200 and key_now.json["permissions"] == ["geofences:read"]
    new_token = await _token(facade, other.email, other.password)
    assert "workspace:admin" not in (await _me(facade, new_token)).json["permissions"]
    again = await facade.call(
        "PATCH", f"{MEMBERS}/{other.user_id}", token=admin_token, json_body={"role": "viewer"}
    )
    assert again.status == 200 and (await _me(facade, new_token)).status == 200  # the same role: nothing

    for body, status, detail in (
        ({"role": "owner"}, 400, "Role must be one of admin, member, viewer"),
        ({"role": 3}, 400, None),
        ({}, 400, None),
    ):
        reply = await facade.call("PATCH", f"{MEMBERS}/{other.user_id}", token=admin_token, json_body=body)
        assert reply.status == status and (detail is None or reply.detail == detail)
    for user_id in (str(uuid.uuid4()), "nope"):
        missing = await facade.call(
            "PATCH", f"{MEMBERS}/{user_id}", token=admin_token, json_body={"role": "member"}
        )
        assert missing.status == 404 and missing.detail == "Member not found"
    assert (
        await facade.call(
            "PATCH", f"{MEMBERS}/{admin.user_id}", token=new_token, json_body={"role": "viewer"}
        )
    ).status == 403


async def test_the_last_admin_is_neither_demoted_nor_removed_even_by_two_at_once(
    facade: Facade, make_account: AccountFactory
) -> None:
    first = await make_account("admin")
    second = await make_account("admin", workspace=first.workspace)
    member = await make_account("member", workspace=first.workspace)
    tokens = [await _token(facade, a.email, a.password) for a in (first, second)]

    # Each demotes the other at the same moment: one of them must stay an admin.
    outcomes = await asyncio.gather(
        facade.call("PATCH", f"{MEMBERS}/{second.user_id}", token=tokens[0], json_body={"role": "member"}),
        facade.call("PATCH", f"{MEMBERS}/{first.user_id}", token=tokens[1], json_body={"role": "member"}),
    )
    statuses = sorted(o.status for o in outcomes)
    assert statuses in ([200, 409], [200, 401]), statuses  # the loser's session may have ended first
    survivor = first if outcomes[1].status != 200 else second
    token = await _token(facade, survivor.email, survivor.password)
    listed = (await facade.call("GET", MEMBERS, token=token)).json["members"]
    assert [m["user_id"] for m in listed if m["role"] == "admin"] == [survivor.user_id]

    demote = await facade.call(
        "PATCH", f"{MEMBERS}/{survivor.user_id}", token=token, json_body={"role": "member"}
    )
    assert demote.status == 409 and demote.detail == "A workspace keeps at least one admin"
    remove = await facade.call("DELETE", f"{MEMBERS}/{survivor.user_id}", token=token)
    assert remove.status == 409 and remove.detail == "A workspace keeps at least one admin"
    assert (await _me(facade, token)).status == 200  # nothing changed

    member_token = await _token(facade, member.email, member.password)
    removed = await facade.call("DELETE", f"{MEMBERS}/{member.user_id}", token=token)
    assert removed.status == 204
    assert (await _me(facade, member_token)).status == 401
    login = await facade.call(
        "POST", "/api/v1/auth/login", json_body={"email": member.email, "password": member.password}
    )
    assert login.status == 401  # in no workspace any more: as good as disabled
    listed = (await facade.call("GET", MEMBERS, token=token)).json["members"]
    assert member.user_id not in {m["user_id"] for m in listed}
    gone = await facade.call("DELETE", f"{MEMBERS}/{member.user_id}", token=token)
    assert gone.status == 404 and gone.detail == "Member not found"
