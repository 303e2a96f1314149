"""API keys: created once, stored hashed, listed without secrets, permission-bounded, revocable."""

from __future__ import annotations

import asyncio
import hashlib

import grpc

from authsvc.adapters.database import Database
from authsvc.v1 import auth_pb2
from http_facade.replies import ENVIRONMENT_VALUES as ENVIRONMENTS
from tests.conftest import AccountFactory, Running
from tests.support.grpc_client import bearer, rpc_error


async def _token(
    running: Running, make_account: AccountFactory, role: str = "admin", workspace: str | None = None
) -> str:
    account = await make_account(role, workspace)
    reply = await running.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    return reply.access_token


async def _create(running: Running, token: str, **fields: object) -> auth_pb2.CreateApiKeyResponse:
    request = auth_pb2.CreateApiKeyRequest(
        name=str(fields.get("name", "ci key")),
        permissions=list(fields.get("permissions", ["geofences:read"])),  # type: ignore[call-overload]
        environment=ENVIRONMENTS.get(
            str(fields.get("environment", "live")), auth_pb2.ENVIRONMENT_UNSPECIFIED
        ),
    )
    return await running.stub.CreateApiKey(request, metadata=bearer(token))


async def _key_count(database: Database, workspace_id: str) -> int:
    return int(await database.fetchval("SELECT count(*) FROM api_keys WHERE workspace_id = $1", workspace_id))


async def test_created_key_is_returned_once_and_stored_only_as_a_hash(
    authsvc: Running, make_account: AccountFactory, database: Database
) -> None:
    token = await _token(authsvc, make_account)
    created = await _create(authsvc, token, name="Production ingest", environment="test")

    secret = created.secret
    assert secret.startswith("sf_test_") and len(secret) >= 40
    assert created.api_key.prefix == secret[:12] and created.api_key.environment == auth_pb2.ENVIRONMENT_TEST
    assert created.api_key.name == "Production ingest"
    assert list(created.api_key.permissions) == ["geofences:read"]
    row = await database.fetchrow("SELECT * FROM api_keys WHERE id = $1", created.api_key.id)
    assert row is not None
    assert bytes(row["key_hash"]) == hashlib.sha256(secret.encode()).digest()
    assert all(secret not in str(value) for value in row.values())

    listed = await authsvc.stub.ListApiKeys(auth_pb2.ListApiKeysRequest(), metadata=bearer(token))
    assert [k.id for k in listed.api_keys] == [created.api_key.id]
    wire = listed.SerializeToString()
    assert secret.encode() not in wire and secret[12:20].encode() not in wire


async def test_key_authenticates_as_an_api_key_principal(
    authsvc: Running, make_account: AccountFactory
) -> None:
    account = await make_account("admin")
    login = await authsvc.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    created = await _create(authsvc, login.access_token, permissions=["geofences:read", "webhooks:write"])

    reply = await authsvc.stub.ValidateToken(
        auth_pb2.ValidateTokenRequest(token=created.secret, required_permissions=["webhooks:write"])
    )
    principal = reply.principal
    assert principal.kind == auth_pb2.PRINCIPAL_KIND_API_KEY
    assert principal.subject_id == principal.api_key_id == created.api_key.id
    assert principal.user_id == account.user_id and principal.workspace_id == account.workspace_id
    assert set(principal.permissions) == {"geofences:read", "webhooks:write"}
    assert not principal.HasField("expires_at")

    denied = await rpc_error(
        authsvc.stub.ValidateToken(
            auth_pb2.ValidateTokenRequest(token=created.secret, required_permissions=["geofences:write"])
        )
    )
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_last_used_is_recorded_without_a_write_per_validation(
    authsvc: Running, make_account: AccountFactory, database: Database
) -> None:
    token = await _token(authsvc, make_account)
    created = await _create(authsvc, token)
    await authsvc.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=created.secret))
    stored = await database.fetchval("SELECT last_used_at FROM api_keys WHERE id = $1", created.api_key.id)
    assert stored is None  # not written yet: batched

    listed = await authsvc.stub.ListApiKeys(auth_pb2.ListApiKeysRequest(), metadata=bearer(token))
    assert listed.api_keys[0].HasField("last_used_at")
    stored = await database.fetchval("SELECT last_used_at FROM api_keys WHERE id = $1", created.api_key.id)
    assert stored is not None


async def test_revoked_key_is_rejected_at_once(authsvc: Running, make_account: AccountFactory) -> None:
    token = await _token(authsvc, make_account)
    created = await _create(authsvc, token)
    await authsvc.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=created.secret))

    revoked = await authsvc.stub.RevokeApiKey(
        auth_pb2.RevokeApiKeyRequest(id=created.api_key.id), metadata=bearer(token)
    )
    assert revoked.api_key.HasField("revoked_at")
    error = await rpc_error(authsvc.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=created.secret)))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    again = await rpc_error(
        authsvc.stub.RevokeApiKey(auth_pb2.RevokeApiKeyRequest(id=created.api_key.id), metadata=bearer(token))
    )
    assert again.code() == grpc.StatusCode.NOT_FOUND


async def test_another_workspace_cannot_see_or_revoke_a_key(
    authsvc: Running, make_account: AccountFactory
) -> None:
    owner = await _token(authsvc, make_account)
    stranger = await _token(authsvc, make_account)
    created = await _create(authsvc, owner)

    error = await rpc_error(
        authsvc.stub.RevokeApiKey(
            auth_pb2.RevokeApiKeyRequest(id=created.api_key.id), metadata=bearer(stranger)
        )
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    listed = await authsvc.stub.ListApiKeys(auth_pb2.ListApiKeysRequest(), metadata=bearer(stranger))
    assert list(listed.api_keys) == []
    await authsvc.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=created.secret))
    for bad_id in ("not-a-uuid", "", "00000000-0000-0000-0000-000000000000"):
        error = await rpc_error(
            authsvc.stub.RevokeApiKey(auth_pb2.RevokeApiKeyRequest(id=bad_id), metadata=bearer(owner))
        )
        assert error.code() == grpc.StatusCode.NOT_FOUND


async def test_a_key_cannot_hold_more_than_its_creator(
    authsvc: Running, make_account: AccountFactory, database: Database
) -> None:
    admin = await make_account("admin")
    member = await make_account("member", admin.workspace)
    member_token = (
        await authsvc.stub.Login(auth_pb2.LoginRequest(email=member.email, password=member.password))
    ).access_token
    before = await _key_count(database, admin.workspace_id)

    error = await rpc_error(_create(authsvc, member_token, permissions=["geofences:read", "workspace:admin"]))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error.details() == "Insufficient permissions"

    narrow = await _create(authsvc, member_token, permissions=["api_keys:write", "geofences:read"])
    error = await rpc_error(_create(authsvc, narrow.secret, permissions=["geofences:write"]))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    child = await _create(authsvc, narrow.secret, permissions=["geofences:read"])
    assert child.api_key.created_by == member.user_id
    assert await _key_count(database, admin.workspace_id) == before + 2


async def test_viewers_cannot_create_keys(authsvc: Running, make_account: AccountFactory) -> None:
    viewer = await _token(authsvc, make_account, "viewer")
    error = await rpc_error(_create(authsvc, viewer))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    listed = await authsvc.stub.ListApiKeys(auth_pb2.ListApiKeysRequest(), metadata=bearer(viewer))
    assert list(listed.api_keys) == []


async def test_bad_input_is_invalid_argument_and_writes_nothing(
    authsvc: Running, make_account: AccountFactory, database: Database
) -> None:
    account = await make_account("admin")
    token = (
        await authsvc.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    ).access_token
    cases: list[dict[str, object]] = [
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 101},
        {"name": "line\nbreak"},
        {"permissions": []},
        {"permissions": ["geofences:delete"]},
        {"permissions": ["'; DROP TABLE api_keys; --"]},
        {"environment": "prod"},
        {"environment": ""},
    ]
    for fields in cases:
        error = await rpc_error(_create(authsvc, token, **fields))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, fields
        assert "DROP" not in error.details()
    assert await _key_count(database, account.workspace_id) == 0


async def test_tampered_keys_are_rejected(authsvc: Running, make_account: AccountFactory) -> None:
    token = await _token(authsvc, make_account)
    secret = (await _create(authsvc, token)).secret
    flipped = secret[:20] + ("A" if secret[20] != "A" else "B") + secret[21:]
    for candidate in (flipped, secret[:-1], secret + "0", secret.replace("sf_live_", "sf_test_")):
        error = await rpc_error(authsvc.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=candidate)))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_usage_of_a_key_locked_elsewhere_is_written_later_never_waited_for(
    authsvc: Running, make_account: AccountFactory, database: Database
) -> None:
    token = await _token(authsvc, make_account)
    created = await _create(authsvc, token)
    await authsvc.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=created.secret))
    async with database.transaction() as conn:  # a revocation in progress holds the row
        await conn.execute("SELECT 1 FROM api_keys WHERE id = $1 FOR UPDATE", created.api_key.id)
        await asyncio.wait_for(authsvc.usage.flush(), 2)  # skips it instead of waiting
    used = "SELECT last_used_at FROM api_keys WHERE id = $1"
    assert await database.fetchval(used, created.api_key.id) is None
    await authsvc.usage.flush()
    assert await database.fetchval(used, created.api_key.id) is not None


async def test_keys_are_listed_a_page_at_a_time_oldest_first(
    authsvc: Running, make_account: AccountFactory
) -> None:
    token = await _token(authsvc, make_account)
    made = [(await _create(authsvc, token, name=f"k{n}")).api_key.id for n in range(5)]
    seen, page_token, pages = [], "", 0
    while True:
        page = await authsvc.stub.ListApiKeys(
            auth_pb2.ListApiKeysRequest(page_size=2, page_token=page_token), metadata=bearer(token)
        )
        pages += 1
        assert len(page.api_keys) <= 2
        seen += [key.id for key in page.api_keys]
        page_token = page.next_page_token
        if not page_token:
            break
    everything = await authsvc.stub.ListApiKeys(auth_pb2.ListApiKeysRequest(), metadata=bearer(token))
    assert everything.next_page_token == "" and sorted(seen) == sorted(made) and pages == 3
    assert seen == [key.id for key in everything.api_keys]  # the pages, in order, are the whole list
    assert [(k.created_at.ToDatetime(), k.id) for k in everything.api_keys] == sorted(
        (k.created_at.ToDatetime(), k.id) for k in everything.api_keys
    )
    for bad in (auth_pb2.ListApiKeysRequest(page_size=-1), auth_pb2.ListApiKeysRequest(page_token="%%%")):
        error = await rpc_error(authsvc.stub.ListApiKeys(bad, metadata=bearer(token)))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
