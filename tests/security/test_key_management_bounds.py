"""Review findings on API key management (issue 14): a key cannot outlive or outspend the key that
made or changed it, a rotated-out secret cannot manage keys, and rotating (which hands out a
working secret) is for the key's owner, the key itself or a workspace admin."""

from __future__ import annotations

from datetime import timedelta

import grpc
from google.protobuf import field_mask_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from authsvc.v1 import auth_pb2
from tests.conftest import AccountFactory, Running
from tests.support.grpc_client import bearer, rpc_error

MANAGER = ["api_keys:write", "api_keys:read", "geofences:read"]


async def _login(
    running: Running, make_account: AccountFactory, role: str = "admin", workspace: str | None = None
) -> tuple[str, str]:
    account = await make_account(role, workspace)
    reply = await running.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    return reply.access_token, account.workspace


async def _create(
    running: Running, credential: str, permissions: list[str], **extra: object
) -> auth_pb2.CreateApiKeyResponse:
    request = auth_pb2.CreateApiKeyRequest(
        name="bounded", permissions=permissions, environment=auth_pb2.ENVIRONMENT_LIVE, **extra
    )
    return await running.stub.CreateApiKey(request, metadata=bearer(credential))


def _limit(per_minute: int = 0, per_day: int = 0) -> auth_pb2.KeyRateLimit:
    return auth_pb2.KeyRateLimit(requests_per_minute=per_minute, requests_per_day=per_day)


async def test_a_key_cannot_make_a_key_that_outlives_or_outspends_it(
    authsvc: Running, make_account: AccountFactory
) -> None:
    token, _ = await _login(authsvc, make_account)
    parent = await _create(authsvc, token, MANAGER, expires_in_seconds=86400, rate_limit=_limit(60))
    child = await _create(authsvc, parent.secret, ["geofences:read"])
    assert child.api_key.expires_at == parent.api_key.expires_at  # inherited, not "never"
    assert child.api_key.rate_limit.requests_per_minute == 60
    for extra, detail in [
        ({"expires_in_seconds": 86400 * 2}, "expires_at must not be later than the calling key's own"),
        ({"rate_limit": _limit(61)}, "rate_limit must not exceed the calling key's own"),
    ]:
        error = await rpc_error(_create(authsvc, parent.secret, ["geofences:read"], **extra))
        assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, detail)
    shorter = await _create(
        authsvc, parent.secret, ["geofences:read"], expires_in_seconds=3600, rate_limit=_limit(10)
    )
    assert shorter.api_key.rate_limit.requests_per_minute == 10


async def test_a_key_cannot_lift_its_own_expiry_or_limits_nor_anothers_beyond_its_own(
    authsvc: Running, make_account: AccountFactory
) -> None:
    token, _ = await _login(authsvc, make_account)
    key = await _create(authsvc, token, MANAGER, expires_in_seconds=86400, rate_limit=_limit(60))
    other = await _create(authsvc, token, ["geofences:read"], expires_in_seconds=3600)

    def update(key_id: str, paths: list[str], **fields: object) -> auth_pb2.UpdateApiKeyRequest:
        return auth_pb2.UpdateApiKeyRequest(
            api_key=auth_pb2.ApiKey(id=key_id, **fields), update_mask=field_mask_pb2.FieldMask(paths=paths)
        )

    for paths in (["expires_at"], ["rate_limit"]):
        error = await rpc_error(
            authsvc.stub.UpdateApiKey(update(key.api_key.id, paths), metadata=bearer(key.secret))
        )
        assert (error.code(), error.details()) == (
            grpc.StatusCode.PERMISSION_DENIED,
            "A key cannot change its own expiry or limits",
        )
    never = await rpc_error(
        authsvc.stub.UpdateApiKey(update(other.api_key.id, ["expires_at"]), metadata=bearer(key.secret))
    )
    assert never.details() == "expires_at must not be later than the calling key's own"
    later = Timestamp()
    later.FromDatetime(authsvc.clock.now() + timedelta(days=2))
    error = await rpc_error(
        authsvc.stub.UpdateApiKey(
            update(other.api_key.id, ["expires_at"], expires_at=later), metadata=bearer(key.secret)
        )
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    listed = await authsvc.stub.ListApiKeys(auth_pb2.ListApiKeysRequest(), metadata=bearer(token))
    assert {k.id: k.expires_at for k in listed.api_keys} == {
        key.api_key.id: key.api_key.expires_at,
        other.api_key.id: other.api_key.expires_at,
    }


async def test_a_rotated_out_secret_validates_but_cannot_manage_keys(
    authsvc: Running, make_account: AccountFactory
) -> None:
    token, _ = await _login(authsvc, make_account)
    key = await _create(authsvc, token, MANAGER)
    await authsvc.stub.RotateApiKey(
        auth_pb2.RotateApiKeyRequest(id=key.api_key.id, overlap_seconds=3600), metadata=bearer(token)
    )
    old = key.secret
    assert (await authsvc.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=old))).principal.api_key_id
    calls = [
        lambda: authsvc.stub.RotateApiKey(
            auth_pb2.RotateApiKeyRequest(id=key.api_key.id), metadata=bearer(old)
        ),
        lambda: _create(authsvc, old, ["geofences:read"]),
        lambda: authsvc.stub.RevokeApiKey(
            auth_pb2.RevokeApiKeyRequest(id=key.api_key.id), metadata=bearer(old)
        ),
    ]
    for call in calls:
        error = await rpc_error(call())
        assert (error.code(), error.details()) == (
            grpc.StatusCode.PERMISSION_DENIED,
            "A rotated-out secret cannot manage API keys",
        )
    listed = await authsvc.stub.ListApiKeys(auth_pb2.ListApiKeysRequest(), metadata=bearer(token))
    assert [(k.id, k.HasField("revoked_at")) for k in listed.api_keys] == [(key.api_key.id, False)]


async def test_only_the_owner_the_key_or_an_admin_may_rotate_it(
    authsvc: Running, make_account: AccountFactory
) -> None:
    admin, workspace = await _login(authsvc, make_account)
    member, _ = await _login(authsvc, make_account, "member", workspace)
    admins_key = await _create(authsvc, admin, ["geofences:read"])

    def rotate(key_id: str, credential: str) -> object:
        request = auth_pb2.RotateApiKeyRequest(id=key_id, overlap_seconds=0)
        return authsvc.stub.RotateApiKey(request, metadata=bearer(credential))

    error = await rpc_error(rotate(admins_key.api_key.id, member))  # may revoke it, may not take it over
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    members_key = await _create(authsvc, member, MANAGER)
    child = await _create(authsvc, members_key.secret, ["geofences:read"])
    assert (await rotate(child.api_key.id, members_key.secret)).secret  # the key that made it
    itself = await rotate(members_key.api_key.id, members_key.secret)  # the key itself
    assert (await rotate(members_key.api_key.id, member)).secret  # its owner
    assert (await rotate(admins_key.api_key.id, admin)).secret  # an admin
    assert itself.secret


async def test_narrowing_a_key_narrows_the_keys_made_with_it(
    authsvc: Running, make_account: AccountFactory
) -> None:
    token, _ = await _login(authsvc, make_account)
    parent = await _create(authsvc, token, ["api_keys:write", "geofences:read", "geofences:write"])
    child = await _create(authsvc, parent.secret, ["api_keys:write", "geofences:read", "geofences:write"])
    grandchild = await _create(authsvc, child.secret, ["geofences:write"])
    other = await _create(authsvc, token, ["geofences:write"])  # made by the user: untouched
    for secret in (child.secret, grandchild.secret):  # cached, holding geofences:write
        check = auth_pb2.ValidateTokenRequest(token=secret, required_permissions=["geofences:write"])
        assert (await authsvc.stub.ValidateToken(check)).principal.api_key_id
    request = auth_pb2.UpdateApiKeyRequest(
        api_key=auth_pb2.ApiKey(id=parent.api_key.id, permissions=["api_keys:write", "geofences:read"]),
        update_mask=field_mask_pb2.FieldMask(paths=["permissions"]),
    )
    await authsvc.stub.UpdateApiKey(request, metadata=bearer(token))

    listed = await authsvc.stub.ListApiKeys(auth_pb2.ListApiKeysRequest(), metadata=bearer(token))
    held = {k.id: sorted(k.permissions) for k in listed.api_keys}
    assert held[child.api_key.id] == ["api_keys:write", "geofences:read"]
    assert held[grandchild.api_key.id] == []
    assert held[other.api_key.id] == ["geofences:write"]
    for secret in (child.secret, grandchild.secret):  # at once, cached or not
        check = auth_pb2.ValidateTokenRequest(token=secret, required_permissions=["geofences:write"])
        error = await rpc_error(authsvc.stub.ValidateToken(check))
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED
