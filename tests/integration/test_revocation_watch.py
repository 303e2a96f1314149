"""WatchRevocations over a real channel: a snapshot of what is in force, then each revocation in
commit order with numbers every replica shares, heartbeats, resuming, and the credential rules."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
import jwt
import pytest

from authsvc.adapters.database import Database
from authsvc.adapters.invalidation import LISTENER_APP_NAME
from authsvc.v1 import auth_pb2
from tests.conftest import AccountFactory, Running, ServerFactory
from tests.support.eventually import eventually
from tests.support.grpc_client import bearer, rpc_error
from tests.support.revocation_watch import Watch


async def _login(running: Running, make_account: AccountFactory, role: str = "admin") -> str:
    account = await make_account(role)
    reply = await running.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    return reply.access_token


def _sid(access_token: str) -> str:
    return str(jwt.decode(access_token, options={"verify_signature": False})["sid"])


async def _key(
    running: Running, token: str, permissions: tuple[str, ...] = ("tokens:verify",)
) -> tuple[str, str]:
    request = auth_pb2.CreateApiKeyRequest(
        name="verifier", permissions=list(permissions), environment=auth_pb2.ENVIRONMENT_TEST
    )
    reply = await running.stub.CreateApiKey(request, metadata=bearer(token))
    return reply.api_key.id, reply.secret


@pytest.fixture
async def watcher(authsvc: Running, make_account: AccountFactory) -> AsyncIterator[tuple[str, str]]:
    """An admin's access token and a service key holding tokens:verify."""
    admin = await _login(authsvc, make_account)
    _, secret = await _key(authsvc, admin)
    yield admin, secret


async def test_a_watch_starts_with_the_revocations_in_force_then_streams_each_in_order(
    authsvc: Running, make_account: AccountFactory, watcher: tuple[str, str]
) -> None:
    admin, secret = watcher
    gone = await _login(authsvc, make_account, "member")
    await authsvc.stub.Logout(auth_pb2.LogoutRequest(), metadata=bearer(gone))
    still = await _login(authsvc, make_account, "member")

    watch = Watch(authsvc.stub, secret)
    first = await watch.next()
    assert first.WhichOneof("event") == "snapshot"
    assert not first.snapshot.resumed
    assert _sid(gone) in first.snapshot.revoked_sessions
    assert _sid(still) not in first.snapshot.revoked_sessions
    assert not first.snapshot.keys.keys  # an HS256 deployment publishes no key: its secret could sign
    rules = (first.snapshot.issuer, first.snapshot.audience, first.snapshot.leeway_seconds)
    assert rules == (
        authsvc.settings.jwt_issuer,
        authsvc.settings.jwt_audience,
        authsvc.settings.jwt_leeway_seconds,
    )

    await authsvc.stub.Logout(auth_pb2.LogoutRequest(), metadata=bearer(still))
    session = await watch.next_revocation()
    assert session.revocation.session_id == _sid(still)
    assert session.sequence > first.sequence

    key_id, _ = await _key(authsvc, admin, ("geofences:read",))
    await authsvc.stub.RevokeApiKey(auth_pb2.RevokeApiKeyRequest(id=key_id), metadata=bearer(admin))
    key = await watch.next_revocation()
    assert key.revocation.api_key_id == key_id
    assert key.sequence > session.sequence
    watch.close()


async def test_heartbeats_come_at_least_every_second_and_hold_the_place(
    authsvc: Running, watcher: tuple[str, str]
) -> None:
    watch = Watch(authsvc.stub, watcher[1])
    first = await watch.next()
    last, gaps = time.monotonic(), []
    for _ in range(5):
        event = await watch.next(within=1.5)
        now = time.monotonic()
        gaps.append(now - last)
        last = now
        assert event.WhichOneof("event") == "heartbeat"
        assert event.sequence >= first.sequence
    assert max(gaps) <= 1.0, gaps
    watch.close()


async def test_a_watcher_resumes_after_its_last_sequence_on_either_replica_without_a_snapshot(
    start_authsvc: ServerFactory, make_account: AccountFactory, authsvc: Running, watcher: tuple[str, str]
) -> None:
    admin, secret = watcher
    other = await start_authsvc()
    async with asyncio.timeout(10):  # a replica just started vouches for its index once it is read
        while not (other.cache.enabled and other.cache.index_complete):
            await asyncio.sleep(0.02)
    watch = Watch(authsvc.stub, secret)
    await watch.next()
    first_key, _ = await _key(authsvc, admin, ("geofences:read",))
    await authsvc.stub.RevokeApiKey(auth_pb2.RevokeApiKeyRequest(id=first_key), metadata=bearer(admin))
    seen = await watch.next_revocation()
    watch.close()

    # Made while nobody watched, through the replica the watcher did not use.
    missed_key, _ = await _key(authsvc, admin, ("geofences:read",))
    await other.stub.RevokeApiKey(auth_pb2.RevokeApiKeyRequest(id=missed_key), metadata=bearer(admin))

    for replica in (authsvc, other):
        resumed = Watch(replica.stub, secret, resume_after=seen.sequence)
        start = await resumed.next()
        assert start.snapshot.resumed
        assert not start.snapshot.revoked_sessions and not start.snapshot.disabled_users
        caught_up = await resumed.next_revocation()
        assert caught_up.revocation.api_key_id == missed_key
        assert caught_up.sequence > seen.sequence
        resumed.close()


async def test_a_place_no_replica_holds_gets_a_snapshot(authsvc: Running, watcher: tuple[str, str]) -> None:
    watch = Watch(authsvc.stub, watcher[1], resume_after=10**15)
    start = await watch.next()
    assert not start.snapshot.resumed
    assert start.sequence < 10**15
    watch.close()


async def test_watching_needs_a_credential_holding_tokens_verify(
    authsvc: Running, make_account: AccountFactory, watcher: tuple[str, str]
) -> None:
    admin, _ = watcher
    _, plain_key = await _key(authsvc, admin, ("geofences:read",))
    member = await _login(authsvc, make_account, "viewer")
    cases = [(plain_key, grpc.StatusCode.PERMISSION_DENIED), (member, grpc.StatusCode.PERMISSION_DENIED)]
    cases.append(("sf_test_" + "x" * 40, grpc.StatusCode.UNAUTHENTICATED))
    for credential, code in cases:
        refused = await rpc_error(Watch(authsvc.stub, credential).next())
        assert refused.code() == code
    anonymous = authsvc.stub.WatchRevocations(auth_pb2.WatchRevocationsRequest())
    refused = await rpc_error(anonymous.read())
    assert refused.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_watch_ends_when_the_watchers_own_key_is_revoked(
    authsvc: Running, watcher: tuple[str, str]
) -> None:
    admin, _ = watcher
    key_id, secret = await _key(authsvc, admin)
    watch = Watch(authsvc.stub, secret)
    await watch.next()
    await authsvc.stub.RevokeApiKey(auth_pb2.RevokeApiKeyRequest(id=key_id), metadata=bearer(admin))
    told = await watch.next_revocation()
    assert told.revocation.api_key_id == key_id
    ended = await rpc_error(watch.next_revocation())
    assert ended.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_watch_ends_unavailable_when_the_replica_stops_hearing_the_database_then_resumes(
    authsvc: Running, database: Database, watcher: tuple[str, str]
) -> None:
    admin, secret = watcher
    watch = Watch(authsvc.stub, secret)
    start = await watch.next()
    killed = await database.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
        LISTENER_APP_NAME,
    )
    assert killed >= 1
    ended = await rpc_error(watch.next_revocation(within=5))
    assert ended.code() == grpc.StatusCode.UNAVAILABLE
    assert ended.details() == "Revocation index unavailable"

    # Revoked while the replica was deaf: a watcher resuming once it hears again still gets it.
    key_id, _ = await _key(authsvc, admin, ("geofences:read",))
    await authsvc.stub.RevokeApiKey(auth_pb2.RevokeApiKeyRequest(id=key_id), metadata=bearer(admin))
    await eventually(lambda: _ready(authsvc), within=10)
    resumed = Watch(authsvc.stub, secret, resume_after=start.sequence)
    assert (await resumed.next()).snapshot.resumed
    assert (await resumed.next_revocation()).revocation.api_key_id == key_id
    resumed.close()


async def _ready(running: Running) -> bool:
    return running.cache.enabled and running.cache.index_complete
