"""Users in several workspaces through the REST facade (issue 16, item 4): login to one,
GET /api/v1/auth/workspaces, POST /api/v1/auth/switch-workspace; a role change, a removal or a
reset in one workspace leaves the others alone."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from authsvc.domain.networks import parse_networks
from authsvc.domain.rate_limits import RateLimit
from tests.conftest import Account, AccountFactory, Running, ServerFactory
from tests.facade.client import Facade
from tests.facade.conftest import FacadeFactory
from tests.support.addresses import unique_client_ip

LOGIN, SWITCH, WORKSPACES = "/api/v1/auth/login", "/api/v1/auth/switch-workspace", "/api/v1/auth/workspaces"


async def _login(facade: Facade, account: Account, workspace_id: str | None = None) -> Any:
    body = {"email": account.email, "password": account.password}
    if workspace_id is not None:
        body["workspace_id"] = workspace_id
    return await facade.call("POST", LOGIN, json_body=body)


async def _me(facade: Facade, token: str) -> Any:
    return await facade.call("GET", "/api/v1/auth/me", token=token)


async def _two_workspaces(authsvc: Running, make_account: AccountFactory) -> tuple[Account, Account, Account]:
    """An admin of A, an admin of B, and a user who is a member of A and a viewer in B (joined
    B later)."""
    admin_a, admin_b = await make_account("admin"), await make_account("admin")
    user = await make_account("member", workspace=admin_a.workspace)
    authsvc.clock.advance(1)
    await authsvc.services.users.add_to_workspace(user.email, "viewer", admin_b.workspace)
    return admin_a, admin_b, user


async def test_a_user_logs_in_to_either_workspace_lists_them_and_the_last_used_is_the_default(
    facade: Facade, authsvc: Running, make_account: AccountFactory
) -> None:
    admin_a, admin_b, user = await _two_workspaces(authsvc, make_account)
    a, b = admin_a.workspace_id, admin_b.workspace_id

    first = await _login(facade, user)  # never used one yet: the oldest membership
    me = (await _me(facade, first.json["access_token"])).json
    assert me["workspace_id"] == a and "api_keys:write" in me["permissions"]

    listed = await facade.call("GET", WORKSPACES, token=first.json["access_token"])
    assert listed.status == 200
    assert [(w["workspace_id"], w["name"], w["role"], w["current"]) for w in listed.json["workspaces"]] == [
        (a, admin_a.workspace, "member", True),
        (b, admin_b.workspace, "viewer", False),
    ]

    in_b = await _login(facade, user, b)
    assert in_b.status == 200
    me_b = (await _me(facade, in_b.json["access_token"])).json
    assert me_b["workspace_id"] == b and "api_keys:write" not in me_b["permissions"]  # a viewer there
    listed_b = (await facade.call("GET", WORKSPACES, token=in_b.json["access_token"])).json["workspaces"]
    assert [w["current"] for w in listed_b] == [False, True]
    again = await _login(facade, user)  # the last used: B
    assert (await _me(facade, again.json["access_token"])).json["workspace_id"] == b

    # Not a member: 403 once the password is proven; a wrong password says nothing of workspaces.
    for other in (str(uuid.uuid4()), "not-a-uuid"):
        refused = await _login(facade, user, other)
        assert refused.status == 403 and refused.detail == "Insufficient permissions"
    third = await make_account("admin")
    assert (await _login(facade, user, third.workspace_id)).status == 403
    wrong = await facade.call(
        "POST", LOGIN, json_body={"email": user.email, "password": "wrong" * 4, "workspace_id": a}
    )
    assert wrong.status == 401 and wrong.detail == "Invalid credentials"

    key = await facade.create_api_key(first.json["access_token"], ["geofences:read"])
    by_key = await facade.call("GET", WORKSPACES, token=key["key"])
    assert (
        by_key.status == 400 and by_key.detail == "Listing workspaces needs an access token, not an API key"
    )


async def test_switching_workspace_ends_the_session_and_starts_one_in_the_other(
    facade: Facade, authsvc: Running, make_account: AccountFactory
) -> None:
    admin_a, admin_b, user = await _two_workspaces(authsvc, make_account)
    pair = (await _login(facade, user, admin_a.workspace_id)).json

    stranger = await make_account("admin")
    refused = await facade.call(
        "POST",
        SWITCH,
        json_body={"refresh_token": pair["refresh_token"], "workspace_id": stranger.workspace_id},
    )
    assert refused.status == 403
    assert (await _me(facade, pair["access_token"])).status == 200  # nothing changed

    switched = await facade.call(
        "POST",
        SWITCH,
        json_body={"refresh_token": pair["refresh_token"], "workspace_id": admin_b.workspace_id},
    )
    assert switched.status == 200 and switched.headers["Cache-Control"] == "no-store"
    me = (await _me(facade, switched.json["access_token"])).json
    assert me["workspace_id"] == admin_b.workspace_id and me["user_id"] == user.user_id
    assert (await _me(facade, pair["access_token"])).status == 401  # the old session ended at once
    reused = await facade.call(
        "POST", "/api/v1/auth/refresh", json_body={"refresh_token": pair["refresh_token"]}
    )
    assert reused.status == 401
    again = await facade.call(
        "POST",
        SWITCH,
        json_body={"refresh_token": pair["refresh_token"], "workspace_id": admin_b.workspace_id},
    )
    assert again.status == 401

    sessions = (await facade.call("GET", "/api/v1/auth/sessions", token=switched.json["access_token"])).json
    assert [(s["workspace_id"], s["current"]) for s in sessions["sessions"]] == [(admin_b.workspace_id, True)]

    refreshed = await facade.call(
        "POST", "/api/v1/auth/refresh", json_body={"refresh_token": switched.json["refresh_token"]}
    )
    assert refreshed.status == 200  # the new session refreshes in B
    assert (await _me(facade, refreshed.json["access_token"])).json["workspace_id"] == admin_b.workspace_id

    missing = await facade.call("POST", SWITCH, json_body={"refresh_token": refreshed.json["refresh_token"]})
    assert missing.status == 400
    empty = await facade.call(
        "POST", SWITCH, json_body={"refresh_token": refreshed.json["refresh_token"], "workspace_id": ""}
    )
    assert empty.status == 400 and empty.detail == "workspace_id is required"
    garbage = await facade.call(
        "POST", SWITCH, json_body={"refresh_token": "garbage", "workspace_id": admin_a.workspace_id}
    )
    assert garbage.status == 401


async def test_a_role_change_removal_or_reset_in_one_workspace_leaves_the_other_alone(
    facade: Facade, authsvc: Running, make_account: AccountFactory
) -> None:
    admin_a, admin_b, user = await _two_workspaces(authsvc, make_account)
    a_token = (await facade.login(admin_a.email, admin_a.password))["access_token"]
    b_token = (await facade.login(admin_b.email, admin_b.password))["access_token"]
    in_a = (await _login(facade, user, admin_a.workspace_id)).json["access_token"]
    in_b = (await _login(facade, user, admin_b.workspace_id)).json["access_token"]
    key_a = await facade.create_api_key(in_a, ["geofences:read"])

    promoted = await facade.call(
        "PATCH", f"/api/v1/members/{user.user_id}", token=b_token, json_body={"role": "member"}
    )
    assert promoted.status == 200 and promoted.json["role"] == "member"
    assert (await _me(facade, in_b)).status == 401  # B's tokens carried the old role
    assert (await _me(facade, in_a)).status == 200  # A's go on
    in_b = (await _login(facade, user, admin_b.workspace_id)).json["access_token"]
    key_b = await facade.create_api_key(in_b, ["geofences:read"])
    a_members = (await facade.call("GET", "/api/v1/members", token=a_token)).json["members"]
    assert {m["user_id"]: m["role"] for m in a_members}[user.user_id] == "member"

    # A password opens both workspaces: neither admin may set it.
    for token in (a_token, b_token):
        reset = await facade.call("POST", f"/api/v1/members/{user.user_id}/password-reset", token=token)
        assert reset.status == 409
        assert (
            reset.detail == "This member belongs to other workspaces too: only they can reset their password"
        )

    removed = await facade.call("DELETE", f"/api/v1/members/{user.user_id}", token=b_token)
    assert removed.status == 204
    assert (await _me(facade, in_b)).status == 401
    assert (await _me(facade, key_b["key"])).status == 401  # the keys they made in B are revoked
    assert (await _me(facade, in_a)).status == 200
    assert (await _me(facade, key_a["key"])).status == 200
    assert (await _login(facade, user, admin_b.workspace_id)).status == 403
    back_in_a = await _login(facade, user)
    assert (await _me(facade, back_in_a.json["access_token"])).json["workspace_id"] == admin_a.workspace_id
    b_members = (await facade.call("GET", "/api/v1/members", token=b_token)).json["members"]
    assert user.user_id not in {m["user_id"] for m in b_members}
    assert (await facade.call("DELETE", f"/api/v1/members/{user.user_id}", token=b_token)).status == 404
    listed = (await facade.call("GET", WORKSPACES, token=in_a)).json["workspaces"]
    assert [w["workspace_id"] for w in listed] == [admin_a.workspace_id]

    # Only in A now: A's admin may issue the reset; B's admin knows no such member.
    assert (
        await facade.call("POST", f"/api/v1/members/{user.user_id}/password-reset", token=b_token)
    ).status == 404
    issued = await facade.call("POST", f"/api/v1/members/{user.user_id}/password-reset", token=a_token)
    assert issued.status == 201


async def test_an_admins_reset_token_dies_once_its_user_joins_another_workspace(
    facade: Facade, authsvc: Running, make_account: AccountFactory
) -> None:
    admin = await make_account("admin")
    user = await make_account("member", workspace=admin.workspace)
    admin_token = (await facade.login(admin.email, admin.password))["access_token"]
    issued = await facade.call("POST", f"/api/v1/members/{user.user_id}/password-reset", token=admin_token)
    assert issued.status == 201
    other = await make_account("admin")
    await authsvc.services.users.add_to_workspace(user.email, "member", other.workspace)

    body = {"token": issued.json["token"], "new_password": "an admin of one must not open the other"}
    refused = await facade.call("POST", "/api/v1/auth/password-reset/confirm", json_body=body)
    assert refused.status == 400 and refused.detail == "Invalid or expired token"
    assert (await _login(facade, user, other.workspace_id)).status == 200  # the password is unchanged


async def test_removals_of_one_user_from_two_workspaces_at_once_leave_the_third(
    facade: Facade, authsvc: Running, make_account: AccountFactory
) -> None:
    """Each removal moves the home mirror to a membership that is left: two at once must not bring
    back the one the other removed."""
    for _ in range(3):
        home, second, third = [await make_account("admin") for _ in range(3)]
        user = await make_account("member", workspace=home.workspace)
        for other in (second, third):
            authsvc.clock.advance(1)
            await authsvc.services.users.add_to_workspace(user.email, "viewer", other.workspace)
        tokens = [(await facade.login(a.email, a.password))["access_token"] for a in (home, second)]
        removals = [facade.call("DELETE", f"/api/v1/members/{user.user_id}", token=t) for t in tokens]
        assert [r.status for r in await asyncio.gather(*removals)] == [204, 204]
        left = (
            await facade.call("GET", WORKSPACES, token=(await _login(facade, user)).json["access_token"])
        ).json
        assert [w["workspace_id"] for w in left["workspaces"]] == [third.workspace_id]
        for gone in (home, second):
            assert (await _login(facade, user, gone.workspace_id)).status == 403


async def test_switching_to_a_workspace_not_ones_own_is_counted_against_the_client(
    start_authsvc: ServerFactory, start_facade: FacadeFactory, make_account: AccountFactory
) -> None:
    strict = await start_authsvc(refresh_rate_limit=RateLimit(3, 3600))
    facade = await start_facade(f"127.0.0.1:{strict.port}", trusted_proxies=parse_networks("127.0.0.1"))
    user, stranger = await make_account("admin"), await make_account("admin")
    pair = (await _login(facade, user)).json
    headers = {"X-Forwarded-For": unique_client_ip()}
    statuses = []
    for _ in range(4):
        reply = await facade.call(
            "POST",
            SWITCH,
            json_body={"refresh_token": pair["refresh_token"], "workspace_id": stranger.workspace_id},
            headers=headers,
        )
        statuses.append(reply.status)
    assert statuses == [403, 403, 403, 429]
