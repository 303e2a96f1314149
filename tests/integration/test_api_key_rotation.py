"""Rotating an API key: a new secret for the same key, the old one honoured for the overlap asked
for and refused on every replica after it; out-of-bounds overlaps and keys the caller may not
touch change nothing."""

from __future__ import annotations

import grpc
import pytest

from authsvc.adapters.database import Database
from authsvc.v1 import auth_pb2
from tests.conftest import AccountFactory, Running, ServerFactory
from tests.support.clock import FakeClock
from tests.support.eventually import eventually
from tests.support.grpc_client import bearer, rpc_error


async def _login(
    running: Running, make_account: AccountFactory, role: str = "admin", workspace: str | None = None
) -> tuple[str, str]:
    account = await make_account(role, workspace)
    reply = await running.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    return reply.access_token, account.workspace_id


async def _create(
    running: Running, token: str, permissions: tuple[str, ...] = ("geofences:read",)
) -> auth_pb2.CreateApiKeyResponse:
    request = auth_pb2.CreateApiKeyRequest(
        name="rotated",
        permissions=list(permissions),
        environment=auth_pb2.ENVIRONMENT_TEST,
        expires_in_seconds=86400,
    )
    return await running.stub.CreateApiKey(request, metadata=bearer(token))


async def _everywhere(replicas: tuple[Running, ...], secrets: tuple[str, ...], accepted: bool) -> None:
    """Until every replica accepts (or refuses) each secret: those that did not make the change
    hear of it by notice, a few milliseconds later."""

    async def holds() -> bool:
        return all([await _accepted(r, s) == accepted for r in replicas for s in secrets])

    await eventually(holds)


async def _rotate(running: Running, token: str, key_id: str, overlap: int) -> auth_pb2.RotateApiKeyResponse:
    request = auth_pb2.RotateApiKeyRequest(id=key_id, overlap_seconds=overlap)
    return await running.stub.RotateApiKey(request, metadata=bearer(token))


async def _accepted(running: Running, secret: str) -> bool:
    try:
        reply = await running.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=secret))
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED, error
        return False
    return bool(reply.principal.api_key_id)


@pytest.fixture
async def replicas(start_authsvc: ServerFactory) -> tuple[Running, Running]:
    clock = FakeClock()
    return await start_authsvc(clock), await start_authsvc(clock)


async def test_rotation_keeps_the_key_and_honours_the_old_secret_for_the_overlap_on_every_replica(
    replicas: tuple[Running, Running], make_account: AccountFactory
) -> None:
    a, b = replicas
    token, _ = await _login(a, make_account)
    old = await _create(a, token)
    await _everywhere((a, b), (old.secret,), True)  # cached on both

    new = await _rotate(a, token, old.api_key.id, overlap=300)
    assert new.secret != old.secret and new.secret.startswith("sf_test_")
    assert new.api_key.prefix == new.secret[:12] != old.api_key.prefix
    kept = ("id", "name", "permissions", "environment", "expires_at", "created_at", "created_by")
    assert all(getattr(new.api_key, f) == getattr(old.api_key, f) for f in kept)
    await _everywhere((a, b), (new.secret,), True)  # the new secret works everywhere
    for replica in (a, b):  # as the same key
        principal = (
            await replica.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=new.secret))
        ).principal
        assert principal.api_key_id == old.api_key.id and not principal.HasField("secret_ends_at")
        assert await _accepted(replica, old.secret)
        superseded = (
            await replica.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=old.secret))
        ).principal  # tells a verifier that keeps answers how long this one holds
        assert superseded.secret_ends_at.seconds == int(a.clock.now().timestamp()) + 300

    a.clock.advance(299)
    assert all([await _accepted(r, old.secret) for r in (a, b)])
    a.clock.advance(1)
    assert not any([await _accepted(r, old.secret) for r in (a, b)])
    assert all([await _accepted(r, new.secret) for r in (a, b)])
    listed = await a.stub.ListApiKeys(auth_pb2.ListApiKeysRequest(), metadata=bearer(token))
    assert [(k.id, k.prefix) for k in listed.api_keys] == [(old.api_key.id, new.api_key.prefix)]


async def test_no_overlap_ends_the_old_secret_at_once_even_where_it_was_cached(
    replicas: tuple[Running, Running], make_account: AccountFactory
) -> None:
    a, b = replicas
    token, _ = await _login(a, make_account)
    old = await _create(a, token)
    await _everywhere((a, b), (old.secret,), True)
    new = await _rotate(b, token, old.api_key.id, overlap=0)
    assert not await _accepted(b, old.secret)  # the replica that rotated: at once
    await _everywhere((a, b), (old.secret,), False)  # the other: by notice
    await _everywhere((a, b), (new.secret,), True)


async def test_a_second_rotation_ends_the_first_secret_at_once(
    replicas: tuple[Running, Running], make_account: AccountFactory
) -> None:
    a, b = replicas
    token, _ = await _login(a, make_account)
    first = await _create(a, token)
    second = await _rotate(a, token, first.api_key.id, overlap=3600)
    await _everywhere((a, b), (first.secret, second.secret), True)
    third = await _rotate(a, token, first.api_key.id, overlap=3600)
    await _everywhere((a, b), (first.secret,), False)
    await _everywhere((a, b), (second.secret, third.secret), True)


async def test_a_revoked_key_takes_its_overlapping_secrets_with_it(
    authsvc: Running, make_account: AccountFactory
) -> None:
    token, _ = await _login(authsvc, make_account)
    old = await _create(authsvc, token)
    new = await _rotate(authsvc, token, old.api_key.id, overlap=3600)
    await authsvc.stub.RevokeApiKey(auth_pb2.RevokeApiKeyRequest(id=old.api_key.id), metadata=bearer(token))
    assert not await _accepted(authsvc, old.secret) and not await _accepted(authsvc, new.secret)


@pytest.mark.parametrize("overlap", [-1, 604801, 2**40])
async def test_an_overlap_out_of_bounds_changes_nothing(
    authsvc: Running, make_account: AccountFactory, database: Database, overlap: int
) -> None:
    token, _ = await _login(authsvc, make_account)
    key = await _create(authsvc, token)
    before = await database.fetchrow("SELECT * FROM api_keys WHERE id = $1", key.api_key.id)
    error = await rpc_error(_rotate(authsvc, token, key.api_key.id, overlap))
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "overlap_seconds must be between 0 and 604800",
    )
    assert await database.fetchrow("SELECT * FROM api_keys WHERE id = $1", key.api_key.id) == before
    assert await _accepted(authsvc, key.secret)


async def test_keys_the_caller_may_not_rotate(
    authsvc: Running, make_account: AccountFactory, database: Database
) -> None:
    admin, workspace = await _login(authsvc, make_account)
    stranger, _ = await _login(authsvc, make_account)  # another workspace's admin
    viewer, _ = await _login(authsvc, make_account, "viewer", workspace)
    broad = await _create(authsvc, admin, ("geofences:read", "workspace:admin"))
    revoked = await _create(authsvc, admin)
    await authsvc.stub.RevokeApiKey(
        auth_pb2.RevokeApiKeyRequest(id=revoked.api_key.id), metadata=bearer(admin)
    )
    hashes = dict(
        await database.fetch("SELECT id::text, key_hash FROM api_keys WHERE workspace_id = $1", workspace)
    )

    for token, key_id, code in [
        (stranger, broad.api_key.id, grpc.StatusCode.NOT_FOUND),  # never another workspace's
        (admin, revoked.api_key.id, grpc.StatusCode.NOT_FOUND),
        (admin, "not-an-id", grpc.StatusCode.NOT_FOUND),
        (admin, "00000000-0000-0000-0000-000000000000", grpc.StatusCode.NOT_FOUND),
        (viewer, broad.api_key.id, grpc.StatusCode.PERMISSION_DENIED),  # no api_keys:write
    ]:
        error = await rpc_error(_rotate(authsvc, token, key_id, 60))
        assert error.code() == code, (key_id, error)
    member_key = await _create(authsvc, admin, ("api_keys:write", "geofences:read"))
    error = await rpc_error(_rotate(authsvc, member_key.secret, broad.api_key.id, 60))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED  # a lesser key cannot take over a greater one
    after = dict(
        await database.fetch("SELECT id::text, key_hash FROM api_keys WHERE workspace_id = $1", workspace)
    )
    assert {k: v for k, v in after.items() if k in hashes} == hashes
