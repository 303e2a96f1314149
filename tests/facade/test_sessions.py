"""A user's own sessions through the REST facade: GET /api/v1/auth/sessions, DELETE
/api/v1/auth/sessions/{id}, POST /api/v1/auth/sessions/revoke-others (issue 16, item 10)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import AccountFactory, Running
from tests.facade.client import Facade, Reply

SESSIONS = "/api/v1/auth/sessions"


async def _login(facade: Facade, email: str, password: str, agent: str) -> dict[str, Any]:
    reply = await facade.call(
        "POST", "/api/v1/auth/login", json_body={"email": email, "password": password},
        headers={"User-Agent": agent},
    )  # fmt: skip
    assert reply.status == 200, reply.raw
    body: dict[str, Any] = reply.json
    return body


async def _me(facade: Facade, token: str) -> int:
    return (await facade.call("GET", "/api/v1/auth/me", token=token)).status


async def _refresh(facade: Facade, refresh_token: str, agent: str = "test") -> Reply:
    return await facade.call(
        "POST",
        "/api/v1/auth/refresh",
        json_body={"refresh_token": refresh_token},
        headers={"User-Agent": agent},
    )


async def _listed(facade: Facade, token: str) -> list[dict[str, Any]]:
    reply = await facade.call("GET", SESSIONS, token=token)
    assert reply.status == 200, reply.raw
    assert reply.json["next_page_token"] == ""
    sessions: list[dict[str, Any]] = reply.json["sessions"]
    return sessions


async def test_a_user_lists_their_sessions_with_where_they_came_from(
    facade: Facade, authsvc: Running, make_account: AccountFactory
) -> None:
    account, stranger = await make_account(), await make_account()
    laptop = await _login(facade, account.email, account.password, "Firefox/140.0 (laptop)")
    authsvc.clock.advance(1)  # the list's order is creation time
    phone = await _login(facade, account.email, account.password, "Safari/18 (phone)")
    await _login(facade, stranger.email, stranger.password, "someone else")

    listed = await _listed(facade, phone["access_token"])
    assert [s["user_agent"] for s in listed] == ["Firefox/140.0 (laptop)", "Safari/18 (phone)"]
    assert [s["current"] for s in listed] == [False, True]
    assert {s["workspace_id"] for s in listed} == {account.workspace_id}
    assert all(s["ip"] == "127.0.0.1" and s["last_refreshed_at"] is None for s in listed)
    assert listed[0]["created_at"] < listed[1]["created_at"] < listed[1]["expires_at"]
    assert set(listed[0]) == {
        "id", "workspace_id", "created_at", "last_refreshed_at", "ip", "user_agent", "current", "expires_at"
    }  # fmt: skip
    assert not any(laptop["refresh_token"] in str(s) or laptop["access_token"] in str(s) for s in listed)

    authsvc.clock.advance(5)
    refreshed = await _refresh(facade, laptop["refresh_token"], "Firefox/141.0 (laptop)")
    assert refreshed.status == 200
    again = await _listed(facade, refreshed.json["access_token"])
    assert [s["current"] for s in again] == [True, False]
    assert (
        again[0]["last_refreshed_at"] is not None and again[0]["last_refreshed_at"] > again[0]["created_at"]
    )
    assert again[0]["user_agent"] == "Firefox/141.0 (laptop)"


async def test_ending_one_session_stops_its_tokens_and_only_its_own(
    facade: Facade, make_account: AccountFactory
) -> None:
    account, stranger = await make_account(), await make_account()
    first = await _login(facade, account.email, account.password, "a")
    second = await _login(facade, account.email, account.password, "b")
    theirs = await _login(facade, stranger.email, stranger.password, "c")
    ids = {s["user_agent"]: s["id"] for s in await _listed(facade, second["access_token"])}
    their_id = (await _listed(facade, theirs["access_token"]))[0]["id"]

    # Someone else's session, an unknown id and a malformed one: 404, and nothing ends.
    for other in (their_id, str(uuid.uuid4()), "not-an-id"):
        refused = await facade.call("DELETE", f"{SESSIONS}/{other}", token=second["access_token"])
        assert refused.status == 404 and refused.detail == "Session not found"
    assert await _me(facade, theirs["access_token"]) == 200

    ended = await facade.call("DELETE", f"{SESSIONS}/{ids['a']}", token=second["access_token"])
    assert ended.status == 204 and ended.raw == b""
    assert await _me(facade, first["access_token"]) == 401
    assert (await _refresh(facade, first["refresh_token"])).status == 401
    assert await _me(facade, second["access_token"]) == 200
    assert [s["id"] for s in await _listed(facade, second["access_token"])] == [ids["b"]]
    again = await facade.call("DELETE", f"{SESSIONS}/{ids['a']}", token=second["access_token"])
    assert again.status == 204  # already ended: done, not an error

    own = await facade.call("DELETE", f"{SESSIONS}/{ids['b']}", token=second["access_token"])
    assert own.status == 204 and await _me(facade, second["access_token"]) == 401  # as a logout


async def test_revoke_others_keeps_only_the_callers_session(
    facade: Facade, make_account: AccountFactory
) -> None:
    account, stranger = await make_account(), await make_account()
    others = [await _login(facade, account.email, account.password, f"device {n}") for n in range(3)]
    mine = await _login(facade, account.email, account.password, "this one")
    theirs = await _login(facade, stranger.email, stranger.password, "stranger")

    reply = await facade.call("POST", f"{SESSIONS}/revoke-others", token=mine["access_token"])
    assert reply.status == 200 and reply.json == {"revoked": 3}
    for pair in others:
        assert await _me(facade, pair["access_token"]) == 401
        assert (await _refresh(facade, pair["refresh_token"])).status == 401
    assert await _me(facade, mine["access_token"]) == 200
    assert await _me(facade, theirs["access_token"]) == 200
    assert [s["user_agent"] for s in await _listed(facade, mine["access_token"])] == ["this one"]
    again = await facade.call("POST", f"{SESSIONS}/revoke-others", token=mine["access_token"])
    assert again.json == {"revoked": 0}


async def test_sessions_come_a_page_at_a_time(
    facade: Facade, authsvc: Running, make_account: AccountFactory
) -> None:
    account = await make_account()
    for n in range(5):
        last = await _login(facade, account.email, account.password, f"device {n}")
        authsvc.clock.advance(1)
    agents, page_token = [], ""
    while True:
        page = await facade.call(
            "GET", f"{SESSIONS}?page_size=2&page_token={page_token}", token=last["access_token"]
        )
        assert page.status == 200 and len(page.json["sessions"]) <= 2
        agents += [s["user_agent"] for s in page.json["sessions"]]
        page_token = page.json["next_page_token"]
        if not page_token:
            break
    assert agents == [f"device {n}" for n in range(5)]
    bad = await facade.call("GET", f"{SESSIONS}?page_size=many", token=last["access_token"])
    assert bad.status == 400 and "page_size" in bad.detail
    forged = await facade.call("GET", f"{SESSIONS}?page_token=xyz", token=last["access_token"])
    assert forged.status == 400 and forged.detail == "Invalid page_token"


async def test_sessions_need_a_users_access_token(facade: Facade, make_account: AccountFactory) -> None:
    account = await make_account()
    pair = await _login(facade, account.email, account.password, "a")
    key = await facade.create_api_key(pair["access_token"], ["api_keys:read"])
    for method, path in (
        ("GET", SESSIONS), ("POST", f"{SESSIONS}/revoke-others"), ("DELETE", f"{SESSIONS}/{uuid.uuid4()}"),
    ):  # fmt: skip
        with_key = await facade.call(method, path, token=key["key"])
        assert with_key.status == 400 and "needs an access token, not an API key" in with_key.detail
        anonymous = await facade.call(method, path)
        assert anonymous.status == 401 and anonymous.detail == "Not authenticated"
        assert (await facade.call(method, path, token="not-a-token")).status == 401
    assert await _me(facade, pair["access_token"]) == 200  # none of that ended anything
