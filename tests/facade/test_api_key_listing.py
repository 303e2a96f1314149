"""GET /api/v1/api-keys: a page at a time, filtered by environment and state; bad queries are 400."""

from __future__ import annotations

import pytest

from tests.conftest import AccountFactory, Running
from tests.facade.client import Facade


async def _admin(facade: Facade, make_account: AccountFactory) -> str:
    account = await make_account("admin")
    return str((await facade.login(account.email, account.password))["access_token"])


async def _create(
    facade: Facade, authsvc: Running, token: str, name: str, environment: str, **extra: object
) -> str:
    body = {"name": name, "permissions": ["geofences:read"], "environment": environment, **extra}
    created = await facade.call("POST", "/api/v1/api-keys", token=token, json_body=body)
    assert created.status == 201
    authsvc.clock.advance(1)  # the list's order is creation time (then id)
    return str(created.json["id"])


async def test_pages_and_filters(facade: Facade, authsvc: Running, make_account: AccountFactory) -> None:
    token = await _admin(facade, make_account)
    await _create(facade, authsvc, token, "a", "live")
    await _create(facade, authsvc, token, "b", "test")
    await _create(facade, authsvc, token, "c", "live", expires_in_seconds=60)
    revoked = await _create(facade, authsvc, token, "d", "live")
    assert (await facade.call("DELETE", f"/api/v1/api-keys/{revoked}", token=token)).status == 204
    authsvc.clock.advance(58)  # c was made 59 s ago with 60 s to live

    names, page_token = [], ""
    while True:
        page = await facade.call("GET", f"/api/v1/api-keys?page_size=3&page_token={page_token}", token=token)
        assert page.status == 200 and len(page.json["api_keys"]) <= 3
        names += [key["name"] for key in page.json["api_keys"]]
        page_token = page.json["next_page_token"]
        if not page_token:
            break
    assert names == ["a", "b", "c", "d"]

    async def listed(query: str) -> list[str]:
        reply = await facade.call("GET", f"/api/v1/api-keys?{query}", token=token)
        assert reply.status == 200 and reply.json["next_page_token"] == ""
        return [key["name"] for key in reply.json["api_keys"]]

    assert await listed("environment=live") == ["a", "c", "d"]
    assert await listed("state=active") == ["a", "b"]
    assert await listed("state=expired") == ["c"]
    assert await listed("state=revoked&environment=live") == ["d"]
    assert await listed("environment=test&state=revoked") == []


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("page_size=ten", "page_size must be a whole number (at most 100 are listed)"),
        ("page_size=-1", "page_size must be a whole number (at most 100 are listed)"),
        ("page_size=1&page_size=2", "page_size must be given once"),
        ("environment=prod", "environment must be live or test"),
        ("environment=", "environment must be live or test"),
        ("state=", "state must be active, revoked or expired"),
        ("state=deleted", "state must be active, revoked or expired"),
        ("page_token=%25%25%25", "Invalid page_token"),
    ],
)
async def test_bad_queries_are_400(
    facade: Facade, make_account: AccountFactory, query: str, detail: str
) -> None:
    token = await _admin(facade, make_account)
    refused = await facade.call("GET", f"/api/v1/api-keys?{query}", token=token)
    assert (refused.status, refused.detail) == (400, detail)
