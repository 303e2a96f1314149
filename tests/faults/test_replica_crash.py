"""A replica killed with SIGKILL while refreshes and key creations are in flight on both: a client
on the SDK's channel (both replicas, round-robin, gRPC retries) carries on with the other one.
Afterwards no session holds two live refresh tokens, nothing is left locked or open in a
transaction, and every refresh the clients were told of is the session's live one."""

from __future__ import annotations

import asyncio
import collections
import signal
import uuid

import grpc
import pytest

from authsvc.adapters.database import Database
from authsvc.client.channel import channel_options
from authsvc.v1 import auth_pb2, auth_pb2_grpc
from tests.conftest import TEST_SECRET
from tests.support.addresses import TEST_PROXY_TOKEN
from tests.support.grpc_client import bearer
from tests.support.processes import clean_env, start_serve

pytestmark = pytest.mark.timeout(300)
PASSWORD = "a long enough password"
SESSIONS = 12
KEY_CREATORS = 4


async def test_a_killed_replica_leaves_one_live_refresh_token_per_session_and_no_locks(
    fresh_database_url: str,
) -> None:
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    env = clean_env(
        AUTHSVC_DATABASE_URL=fresh_database_url,
        AUTHSVC_JWT_SECRET=TEST_SECRET.hex(),
        AUTHSVC_GRPC_ADDRESS="127.0.0.1:0",
        AUTHSVC_BCRYPT_COST="10",
        AUTHSVC_SHUTDOWN_GRACE_SECONDS="1",
        AUTHSVC_PROXY_TOKENS=TEST_PROXY_TOKEN,
        AUTHSVC_LOGIN_RATE_LIMIT="100000/60",
        AUTHSVC_REFRESH_RATE_LIMIT="100000/60",
        AUTHSVC_BOOTSTRAP_ADMIN_EMAIL=email,
        AUTHSVC_BOOTSTRAP_ADMIN_PASSWORD=PASSWORD,
    )
    first = await start_serve(env)
    second = await start_serve(env)
    target = f"ipv4:127.0.0.1:{first.port},127.0.0.1:{second.port}"
    outcomes: collections.Counter[str] = collections.Counter()
    latest: dict[int, str] = {}  # the refresh token each session's client was last given
    try:
        async with grpc.aio.insecure_channel(target, options=channel_options()) as channel:
            stub = auth_pb2_grpc.AuthServiceStub(channel)
            login = auth_pb2.LoginRequest(email=email, password=PASSWORD)
            pairs = [await stub.Login(login) for _ in range(SESSIONS)]
            admin = pairs[0].access_token
            stop = asyncio.Event()

            async def refreshing(index: int) -> None:
                token = pairs[index].refresh_token
                while not stop.is_set():
                    try:
                        reply = await stub.Refresh(auth_pb2.RefreshRequest(refresh_token=token), timeout=5)
                    except grpc.aio.AioRpcError as error:
                        outcomes[f"refresh {error.code().name}"] += 1
                        continue  # the same token again: a commit the client never heard of is
                        # answered from the grace window with the session's live token
                    token = reply.refresh_token
                    latest[index] = token
                    outcomes["refresh OK"] += 1

            async def creating(index: int) -> None:
                number = 0
                while not stop.is_set():
                    number += 1
                    request = auth_pb2.CreateApiKeyRequest(
                        name=f"k{index}-{number}",
                        permissions=["geofences:read"],
                        environment=auth_pb2.ENVIRONMENT_TEST,
                    )
                    try:
                        await stub.CreateApiKey(request, metadata=bearer(admin), timeout=5)
                        outcomes["create OK"] += 1
                    except grpc.aio.AioRpcError as error:
                        outcomes[f"create {error.code().name}"] += 1

            workers = [asyncio.create_task(refreshing(i)) for i in range(SESSIONS)]
            workers += [asyncio.create_task(creating(i)) for i in range(KEY_CREATORS)]
            await asyncio.sleep(1.0)
            before = outcomes["refresh OK"]
            first.process.send_signal(signal.SIGKILL)  # mid-flight, no goodbye
            await first.process.wait()
            await asyncio.sleep(2.0)
            stop.set()
            await asyncio.gather(*workers)
            assert outcomes["refresh OK"] > before + SESSIONS  # the clients carried on with the survivor

            # Every session's last refresh token works on the survivor, once, as the live one.
            for token in latest.values():
                await stub.Refresh(auth_pb2.RefreshRequest(refresh_token=token), timeout=5)
    finally:
        for process in (first, second):
            if process.process.returncode is None:
                await process.stop()

    # Refreshes never failed but as UNAVAILABLE (a replica going); key creations, never replayed,
    # may be UNAVAILABLE too (one cut off after its commit exists, its secret unseen).
    assert set(outcomes) <= {"refresh OK", "refresh UNAVAILABLE", "create OK", "create UNAVAILABLE"}, outcomes
    assert outcomes["refresh UNAVAILABLE"] <= SESSIONS, outcomes  # at most the calls in flight
    database = await Database.connect(fresh_database_url, min_size=1, max_size=1)
    try:
        doubled = await database.fetch(
            "SELECT session_id FROM refresh_tokens WHERE retired_at IS NULL "
            "GROUP BY session_id HAVING count(*) > 1"
        )
        assert doubled == []
        mismatched = await database.fetchval(
            "SELECT count(*) FROM sessions s JOIN refresh_tokens t ON t.session_id = s.id "
            "WHERE t.retired_at IS NULL AND t.jti IS DISTINCT FROM s.current_jti"
        )
        assert mismatched == 0
        name = fresh_database_url.rsplit("/", 1)[-1].split("?")[0]
        open_elsewhere = await database.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() "
            "AND (state LIKE 'idle in transaction%' OR wait_event_type = 'Lock')",
            name,
        )
        assert open_elsewhere == 0
        locks = await database.fetchval(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE a.datname = $1 AND l.pid <> pg_backend_pid() "
            "AND l.locktype IN ('relation', 'tuple', 'advisory')",
            name,
        )
        assert locks == 0
    finally:
        await database.close()
    print(f"outcomes: {dict(outcomes)}")
