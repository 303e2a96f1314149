"""Changing an API key (UpdateApiKey) and what a service learns of it: name and metadata in the
principal, every replica seeing a change at once, and refusals that change nothing."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp

from authsvc.adapters.database import Database
from authsvc.client.structs import json_object
from authsvc.v1 import auth_pb2
from tests.conftest import AccountFactory, Running, ServerFactory
from tests.support.clock import FakeClock
from tests.support.eventually import eventually
from tests.support.grpc_client import bearer, rpc_error

METADATA = {"customer": "acme", "seats": 5, "tags": ["eu", "beta"], "trial": False, "ratio": 0.5}


def _struct(value: dict[str, object]) -> Struct:
    message = Struct()
    message.update(value)
    return message


async def _login(running: Running, make_account: AccountFactory, role: str = "admin") -> tuple[str, str]:
    account = await make_account(role)
    reply = await running.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    return reply.access_token, account.workspace_id


async def _create(
    running: Running, token: str, permissions: tuple[str, ...] = ("geofences:read", "geofences:write")
) -> auth_pb2.CreateApiKeyResponse:
    request = auth_pb2.CreateApiKeyRequest(
        name="ingest",
        permissions=list(permissions),
        environment=auth_pb2.ENVIRONMENT_LIVE,
        metadata=_struct(METADATA),
    )
    return await running.stub.CreateApiKey(request, metadata=bearer(token))


def _update(key_id: str, paths: list[str], **fields: object) -> auth_pb2.UpdateApiKeyRequest:
    return auth_pb2.UpdateApiKeyRequest(
        api_key=auth_pb2.ApiKey(id=key_id, **fields), update_mask=field_mask_pb2.FieldMask(paths=paths)
    )


async def _principal(running: Running, secret: str, *required: str) -> auth_pb2.Principal:
    request = auth_pb2.ValidateTokenRequest(token=secret, required_permissions=list(required))
    return (await running.stub.ValidateToken(request)).principal


async def _holds(running: Running, secret: str, *required: str) -> bool:
    try:
        await _principal(running, secret, *required)
    except grpc.aio.AioRpcError:
        return False
    return True


async def _refused(running: Running, secret: str, *required: str) -> bool:
    try:
        await _principal(running, secret, *required)
    except grpc.aio.AioRpcError as error:
        return error.code() == grpc.StatusCode.PERMISSION_DENIED
    return False


async def test_a_service_learns_the_keys_name_and_metadata(
    authsvc: Running, make_account: AccountFactory
) -> None:
    token, _ = await _login(authsvc, make_account)
    created = await _create(authsvc, token)
    assert json_object(created.api_key.metadata) == METADATA
    principal = await _principal(authsvc, created.secret)
    assert principal.api_key_name == "ingest" and json_object(principal.metadata) == METADATA
    user = (await authsvc.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=token))).principal
    assert user.api_key_name == "" and not user.HasField("metadata")
    listed = await authsvc.stub.ListApiKeys(auth_pb2.ListApiKeysRequest(), metadata=bearer(token))
    assert json_object(listed.api_keys[0].metadata) == METADATA


async def test_every_replica_sees_a_change_at_once(
    start_authsvc: ServerFactory, make_account: AccountFactory
) -> None:
    clock = FakeClock()
    a, b = await start_authsvc(clock), await start_authsvc(clock)
    token, _ = await _login(a, make_account)
    created = await _create(a, token)
    for replica in (a, b):  # cached on both (B once it has heard of the key)
        await eventually(lambda r=replica: _holds(r, created.secret, "geofences:write"))

    changed = await a.stub.UpdateApiKey(
        _update(
            created.api_key.id,
            ["name", "permissions", "metadata"],
            name="ingest (read only)",
            permissions=["geofences:read"],
            metadata=_struct({"customer": "acme"}),
        ),
        metadata=bearer(token),
    )
    assert changed.api_key.name == "ingest (read only)" and list(changed.api_key.permissions) == [
        "geofences:read"
    ]
    assert changed.api_key.prefix == created.api_key.prefix  # the secret is unchanged
    for replica in (a, b):  # A at once, B by notice within a second
        await eventually(lambda r=replica: _refused(r, created.secret, "geofences:write"))
        principal = await _principal(replica, created.secret, "geofences:read")
        assert principal.api_key_name == "ingest (read only)"
        assert json_object(principal.metadata) == {"customer": "acme"}


async def test_expiry_can_be_set_and_cleared(authsvc: Running, make_account: AccountFactory) -> None:
    token, _ = await _login(authsvc, make_account)
    created = await _create(authsvc, token)
    ends = Timestamp()
    ends.FromDatetime(authsvc.clock.now() + timedelta(hours=1))
    changed = await authsvc.stub.UpdateApiKey(
        _update(created.api_key.id, ["expires_at"], expires_at=ends), metadata=bearer(token)
    )
    assert changed.api_key.expires_at.seconds == ends.seconds
    authsvc.clock.advance(3601)
    error = await rpc_error(authsvc.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=created.secret)))
    assert error.details() == "API key expired"
    cleared = await authsvc.stub.UpdateApiKey(
        _update(created.api_key.id, ["expires_at"]), metadata=bearer(token)
    )
    assert not cleared.api_key.HasField("expires_at")
    assert (await _principal(authsvc, created.secret)).api_key_id == created.api_key.id


INVALID = grpc.StatusCode.INVALID_ARGUMENT
CHANGEABLE = "give any of name, permissions, metadata, expires_at, rate_limit"


@pytest.mark.parametrize(
    ("paths", "fields", "code", "detail"),
    [
        ([], {"name": "x"}, INVALID, f"Nothing to change: {CHANGEABLE}"),
        (["environment"], {}, INVALID, f"environment cannot be changed: {CHANGEABLE}"),
        (["name"], {"name": " "}, INVALID, "Name is required"),
        (["permissions"], {"permissions": []}, INVALID, "At least one permission is required"),
        (
            ["permissions"],
            {"permissions": ["workspace:admin"]},
            INVALID,
            "Permissions the caller does not hold: workspace:admin",
        ),
        (
            ["metadata"],
            {"metadata": {"blob": "x" * 2040}},
            INVALID,
            "metadata must be at most 2048 bytes as JSON",
        ),
        (["expires_at"], {"expires_at": -60}, INVALID, "expires_at must be in the future"),
    ],
)
async def test_refused_changes_change_nothing(
    authsvc: Running,
    make_account: AccountFactory,
    database: Database,
    paths: list[str],
    fields: dict[str, object],
    code: grpc.StatusCode,
    detail: str,
) -> None:
    token, _ = await _login(authsvc, make_account, "member")  # holds geofences:*, not workspace:admin
    created = await _create(authsvc, token)
    if "metadata" in fields:
        fields = {"metadata": _struct(fields["metadata"])}  # type: ignore[arg-type]
    if "expires_at" in fields:
        moment = Timestamp()
        moment.FromDatetime(authsvc.clock.now() + timedelta(seconds=fields["expires_at"]))  # type: ignore[arg-type]
        fields = {"expires_at": moment}
    before = await database.fetchrow("SELECT * FROM api_keys WHERE id = $1", created.api_key.id)
    error = await rpc_error(
        authsvc.stub.UpdateApiKey(_update(created.api_key.id, paths, **fields), metadata=bearer(token))
    )
    assert (error.code(), error.details()) == (code, detail)
    assert await database.fetchrow("SELECT * FROM api_keys WHERE id = $1", created.api_key.id) == before


async def test_revoked_and_foreign_keys_are_not_found(authsvc: Running, make_account: AccountFactory) -> None:
    token, _ = await _login(authsvc, make_account)
    stranger, _ = await _login(authsvc, make_account)
    mine, revoked = await _create(authsvc, token), await _create(authsvc, token)
    await authsvc.stub.RevokeApiKey(
        auth_pb2.RevokeApiKeyRequest(id=revoked.api_key.id), metadata=bearer(token)
    )
    for who, key_id in ((stranger, mine.api_key.id), (token, revoked.api_key.id), (token, "nope")):
        error = await rpc_error(
            authsvc.stub.UpdateApiKey(_update(key_id, ["name"], name="x"), metadata=bearer(who))
        )
        assert (error.code(), error.details()) == (grpc.StatusCode.NOT_FOUND, "API key not found")
    assert (await _principal(authsvc, mine.secret)).api_key_name == "ingest"
