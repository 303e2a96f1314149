"""Malformed requests get a 4xx `{"detail"}` from the facade itself and never reach the database.

Each body is one defect away from a request that would write (a session, an API key, a new token
lifetime), and is sent with a valid token, so a defect let through would show in the row counts.
"""

from __future__ import annotations

import json
from typing import Any

from authsvc.adapters.database import Database
from tests.conftest import AccountFactory
from tests.facade.client import Facade

TABLES = ("workspaces", "users", "sessions", "refresh_tokens", "api_keys", "rate_limits")
JSON = {"Content-Type": "application/json"}


async def _snapshot(database: Database, workspace_id: str) -> dict[str, Any]:
    counts = {table: await database.fetchval(f"SELECT count(*) FROM {table}") for table in TABLES}
    ttl = await database.fetchval(
        "SELECT access_token_ttl_seconds FROM workspaces WHERE id = $1", workspace_id
    )
    return {**counts, "ttl": ttl}


def _defects(valid: dict[str, Any]) -> list[tuple[bytes, dict[str, str], int]]:
    """(body, headers, expected status) variations of a valid JSON body."""
    text = json.dumps(valid)
    first = next(iter(valid))
    return [
        (text[:-1].encode(), JSON, 400),  # truncated JSON
        (b"", JSON, 400),
        (b"null", JSON, 400),
        (json.dumps([valid]).encode(), JSON, 400),  # not an object
        (json.dumps({**valid, "admin": True}).encode(), JSON, 400),  # unknown field
        (json.dumps({k: v for k, v in valid.items() if k != first}).encode(), JSON, 400),  # missing field
        (json.dumps({**valid, first: {"$ne": None}}).encode(), JSON, 400),  # wrong type
        (json.dumps({**valid, first: None}).encode(), JSON, 400),
        (json.dumps({**valid, first: True}).encode(), JSON, 400),
        (text.replace("{", '{"' + first + '": 1, ', 1).encode(), JSON, 400),  # duplicate key
        (text.encode("utf-16"), JSON, 400),  # not UTF-8
        (text.encode()[:-1] + b', "x": "\xff\xfe"}', JSON, 400),  # invalid UTF-8 bytes
        (b"[" * 60_000 + b"]" * 60_000, JSON, 413),  # absurd nesting, over the limit anyway
        (b"[" * 20_000 + b"]" * 20_000, JSON, 400),  # absurd nesting within the limit
        (text.encode(), {"Content-Type": "text/plain"}, 415),
        (text.encode(), {"Content-Type": "application/x-www-form-urlencoded"}, 415),
        (text.encode(), {"Content-Type": "application/json; charset=latin-1"}, 415),
        (text.encode(), {}, 415),  # no Content-Type at all
        (json.dumps({**valid, "padding": "x" * 70_000}).encode(), JSON, 413),
    ]


async def _send_all(
    facade: Facade, method: str, path: str, token: str | None, valid: dict[str, Any], extra: list[Any]
) -> None:
    cases = _defects(valid) + [(json.dumps(body).encode(), JSON, 400) for body in extra]
    for body, headers, expected in cases:
        sent = {**headers, **({"Authorization": f"Bearer {token}"} if token else {})}
        reply = await facade.call(method, path, data=body, headers=sent)
        assert reply.status == expected, (path, body[:80], headers, reply.raw)
        assert reply.detail and "Traceback" not in reply.detail


async def test_malformed_bodies_are_refused_and_write_nothing(
    facade: Facade, make_account: AccountFactory, database: Database
) -> None:
    account = await make_account("admin")
    token = (await facade.login(account.email, account.password))["access_token"]
    before = await _snapshot(database, account.workspace_id)

    login = {"email": account.email, "password": account.password}
    await _send_all(
        facade, "POST", "/api/v1/auth/login", None, login,
        [{**login, "password": ["p"]}, {**login, "email": "\ud800@example.com"}, {"email": account.email}],
    )  # fmt: skip
    await _send_all(
        facade, "POST", "/api/v1/auth/refresh", None, {"refresh_token": "x"}, [{"refresh_token": 1}]
    )
    key = {"name": "k", "permissions": ["geofences:read"], "environment": "live"}
    await _send_all(
        facade, "POST", "/api/v1/api-keys", token, key,
        [{**key, "permissions": "geofences:read"}, {**key, "permissions": ["geofences:read", 1]},
         {**key, "name": ["k"]}],
    )  # fmt: skip
    ttl = {"access_token_ttl_seconds": 900}
    await _send_all(
        facade, "PATCH", "/api/v1/auth/settings", token, ttl,
        [{"access_token_ttl_seconds": "900"}, {"access_token_ttl_seconds": 900.5},
         {"access_token_ttl_seconds": 2**63}, {"access_token_ttl_seconds": False}],
    )  # fmt: skip
    for constant in (b"NaN", b"Infinity", b"-Infinity"):
        body = b'{"access_token_ttl_seconds": ' + constant + b"}"
        reply = await facade.call(
            "PATCH", "/api/v1/auth/settings", data=body, headers={**JSON, "Authorization": f"Bearer {token}"}
        )
        assert reply.status == 400 and reply.detail == "Request body must be valid JSON"

    assert await _snapshot(database, account.workspace_id) == before
    # The same requests, well formed, do write: the counts above could have moved.
    assert (await facade.call("POST", "/api/v1/api-keys", token=token, json_body=key)).status == 201
    assert (await _snapshot(database, account.workspace_id))["api_keys"] == before["api_keys"] + 1


async def test_malformed_request_texts_say_what_is_wrong(facade: Facade) -> None:
    path = "/api/v1/auth/refresh"
    expectations = [
        (b"{", "Request body must be valid JSON"),
        (b"[]", "Request body must be a JSON object"),
        (b"{}", "Missing field: refresh_token"),
        (b'{"refresh_token": 5}', "Field refresh_token must be a string"),
        (b'{"refresh_token": "r", "scope": "all"}', "Unknown field: scope"),
        (b"\xff", "Request body must be UTF-8"),
    ]
    for body, detail in expectations:
        reply = await facade.call("POST", path, data=body, headers=JSON)
        assert (reply.status, reply.detail) == (400, detail)
    wrong_type = await facade.call("POST", path, data=b"{}", headers={"Content-Type": "text/plain"})
    assert (wrong_type.status, wrong_type.detail) == (415, "Content-Type must be application/json")


async def test_an_authorization_header_grpc_cannot_carry_is_400(facade: Facade) -> None:
    for value in ("Bearer t\u00f6ken", "Bearer tab\there"):
        reply = await facade.call("GET", "/api/v1/auth/me", headers={"Authorization": value})
        assert reply.status == 400 and reply.detail == "Malformed Authorization header"
        assert reply.headers["WWW-Authenticate"] == 'Bearer error="invalid_request"'
