"""Stored display strings hold nothing a reader cannot see (review finding 8).

Before: key names "\\u202eevil" (a right-to-left override), "a\\u0085b" and "a\\u2028b" (line
breaks) were stored, though the error text said control characters were refused.
"""

from __future__ import annotations

import uuid

import grpc
import pytest

from authsvc.adapters.database import Database
from authsvc.domain.errors import AuthError, ErrorCode
from authsvc.v1 import auth_pb2
from tests.conftest import AccountFactory, Running
from tests.facade.client import Facade
from tests.support.grpc_client import bearer, rpc_error

INVISIBLE = [
    "\u202eevil",  # Cf: right-to-left override
    "a\u200bb",  # Cf: zero-width space
    "a\u2066b\u2069",  # Cf: bidirectional isolates
    "a\u0085b",  # Cc: next line
    "a\x1bb",  # Cc: escape
    "a\u2028b",  # Zl: line separator
    "a\u2029b",  # Zp: paragraph separator
    "a\ue000b",  # Co: private use
]


async def _admin_token(authsvc: Running, make_account: AccountFactory) -> tuple[str, str]:
    account = await make_account("admin")
    pair = await authsvc.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    return pair.access_token, account.workspace_id


@pytest.mark.parametrize("name", INVISIBLE)
async def test_key_names_with_invisible_characters_are_refused_over_grpc(
    authsvc: Running, make_account: AccountFactory, name: str
) -> None:
    token, _ = await _admin_token(authsvc, make_account)
    request = auth_pb2.CreateApiKeyRequest(
        name=name, permissions=["geofences:read"], environment=auth_pb2.ENVIRONMENT_LIVE
    )
    error = await rpc_error(authsvc.stub.CreateApiKey(request, metadata=bearer(token)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "Name must not contain control or invisible characters"
    listed = await authsvc.stub.ListApiKeys(auth_pb2.ListApiKeysRequest(), metadata=bearer(token))
    assert list(listed.api_keys) == []  # nothing was written


async def test_key_names_with_invisible_characters_are_refused_over_rest(
    facade: Facade, make_account: AccountFactory
) -> None:
    account = await make_account("admin")
    token = (await facade.login(account.email, account.password))["access_token"]
    for name in INVISIBLE:
        body = {"name": name, "permissions": ["geofences:read"], "environment": "live"}
        reply = await facade.call("POST", "/api/v1/api-keys", token=token, json_body=body)
        assert (reply.status, reply.detail) == (400, "Name must not contain control or invisible characters")
    listed = await facade.call("GET", "/api/v1/api-keys", token=token)
    assert listed.json == {"api_keys": [], "next_page_token": ""}


async def test_visible_names_in_any_script_are_kept(authsvc: Running, make_account: AccountFactory) -> None:
    token, _ = await _admin_token(authsvc, make_account)
    for name in ("Ingest (prod) 🚀", "Überweisung", "סוד", "ключ", "鍵 キー"):
        request = auth_pb2.CreateApiKeyRequest(
            name=name, permissions=["geofences:read"], environment=auth_pb2.ENVIRONMENT_LIVE
        )
        created = await authsvc.stub.CreateApiKey(request, metadata=bearer(token))
        assert created.api_key.name == name


@pytest.mark.parametrize("name", INVISIBLE)
async def test_workspace_names_with_invisible_characters_are_refused(
    authsvc: Running, database: Database, name: str
) -> None:
    email = f"ws-{uuid.uuid4().hex[:12]}@example.com"
    workspace = f"ws {uuid.uuid4().hex[:8]} {name}"
    with pytest.raises(AuthError) as refused:
        await authsvc.services.users.create(email, "a long enough password", "admin", workspace)
    assert refused.value.code is ErrorCode.INVALID_ARGUMENT
    assert await database.fetchval("SELECT count(*) FROM users WHERE email = $1", email) == 0
    assert await database.fetchval("SELECT count(*) FROM workspaces WHERE name = $1", workspace.strip()) == 0
