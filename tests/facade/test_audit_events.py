"""GET /api/v1/audit-events (issue 16, item 11): a workspace's security events for its admins,
newest first, filtered by type, actor and time, a page at a time, never a secret."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import quote

from tests.conftest import AccountFactory, Running
from tests.facade.client import Facade

EVENTS = "/api/v1/audit-events"


async def _events(facade: Facade, token: str, query: str = "", at_least: int = 0) -> list[dict[str, Any]]:
    """The events the query lists, once there are `at_least` (the trail is written in batches)."""
    async with asyncio.timeout(10):
        while True:
            reply = await facade.call("GET", f"{EVENTS}?{query}", token=token)
            assert reply.status == 200, reply.raw
            events: list[dict[str, Any]] = reply.json["events"]
            if len(events) >= at_least:
                return events
            await asyncio.sleep(0.1)


async def test_admins_see_their_workspaces_events_newest_first_and_no_secret(
    facade: Facade, authsvc: Running, make_account: AccountFactory
) -> None:
    admin = await make_account("admin")
    member = await make_account("member", workspace=admin.workspace)
    outsider = await make_account("admin")
    admin_token = (await facade.login(admin.email, admin.password))["access_token"]
    authsvc.clock.advance(1)
    wrong = await facade.call(
        "POST", "/api/v1/auth/login", json_body={"email": member.email, "password": "a wrong password!!"}
    )
    assert wrong.status == 401
    authsvc.clock.advance(1)
    pair = await facade.login(member.email, member.password)
    authsvc.clock.advance(1)
    key = await facade.create_api_key(pair["access_token"], ["geofences:read"])
    authsvc.clock.advance(1)
    new_password = "seven lanterns over a quiet harbour"
    body = {"current_password": member.password, "new_password": new_password}
    assert (
        await facade.call("POST", "/api/v1/auth/password", token=pair["access_token"], json_body=body)
    ).status == 204

    events = await _events(facade, admin_token, at_least=5)
    assert [e["type"] for e in events] == [
        "password_changed", "api_key_created", "login_succeeded", "login_failed", "login_succeeded"
    ]  # fmt: skip
    assert [e["actor_id"] for e in events] == [member.user_id] * 4 + [admin.user_id]
    assert events[1]["subject_id"] == key["id"]
    assert all(e["ip"] == "127.0.0.1" for e in events if e["type"].startswith("login"))
    assert [e["at"] for e in events] == sorted((e["at"] for e in events), reverse=True)
    assert set(events[0]) == {"id", "type", "at", "actor_id", "subject_id", "ip", "detail"}
    raw = str(events)
    for secret in (member.password, new_password, pair["access_token"], pair["refresh_token"], key["key"]):
        assert secret not in raw

    only_failures = await _events(facade, admin_token, "type=login_failed", 1)
    assert [e["actor_id"] for e in only_failures] == [member.user_id]
    of_admin = await _events(facade, admin_token, f"actor_id={admin.user_id}", 1)
    assert [e["type"] for e in of_admin] == ["login_succeeded"]
    since = quote(events[1]["at"])
    assert [e["type"] for e in await _events(facade, admin_token, f"since={since}", 2)] == [
        "password_changed", "api_key_created"
    ]  # fmt: skip

    seen, page_token = [], ""
    while True:
        page = await facade.call("GET", f"{EVENTS}?page_size=2&page_token={page_token}", token=admin_token)
        assert page.status == 200 and len(page.json["events"]) <= 2
        seen += [e["id"] for e in page.json["events"]]
        page_token = page.json["next_page_token"]
        if not page_token:
            break
    assert seen == [e["id"] for e in events]

    theirs = (await facade.login(outsider.email, outsider.password))["access_token"]
    assert [e["actor_id"] for e in await _events(facade, theirs, at_least=1)] == [outsider.user_id]


async def test_only_admins_read_the_trail_and_bad_filters_are_400(
    facade: Facade, make_account: AccountFactory
) -> None:
    admin = await make_account("admin")
    member = await make_account("member", workspace=admin.workspace)
    member_token = (await facade.login(member.email, member.password))["access_token"]
    admin_token = (await facade.login(admin.email, admin.password))["access_token"]
    refused = await facade.call("GET", EVENTS, token=member_token)
    assert refused.status == 403 and refused.detail == "Insufficient permissions"
    assert (await facade.call("GET", EVENTS)).status == 401
    for query, detail in (
        ("type=nonsense", "type must be one of"),
        ("actor_id=not-a-user", "actor_id must be a user id"),
        ("actor_id=", "actor_id must be a user id"),
        ("since=yesterday", "since must be an RFC 3339 time"),
        ("page_token=abc", "Invalid page_token"),
        ("page_size=-1", "page_size must be a whole number"),
        (f"type=login_failed&type=logout&actor_id={uuid.uuid4()}", "type must be given once"),
    ):
        reply = await facade.call("GET", f"{EVENTS}?{query}", token=admin_token)
        assert reply.status == 400 and reply.detail.startswith(detail), (query, reply.raw)
