"""PostgreSQL restarted in the middle of a mixed load through the facade and two replicas (issue 17,
item 2): validations of tokens and keys, logins, refreshes, logouts, key creations and revocations
for LOAD_SECONDS, the database down for DOWN_FOR of them. The server is this test's own, never the
suite's shared one. Afterwards:

- no credential was accepted once its revocation had been acknowledged and had had the documented
  time to reach every replica (PROPAGATION);
- valid credentials and good requests were refused only with 503, and only while the database was
  down (or in the RECOVERY seconds after it accepted connections again);
- every acknowledged write is in the database: created keys exist, revoked keys and logged-out
  sessions are revoked, each session's last acknowledged refresh token is its live one;
- both replicas serve database calls again within RECOVERY seconds, with no restart, and a
  revocation made the moment the database is back reaches the other replica within PROPAGATION.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import random
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import grpc
import jwt
import pytest
from aiohttp import web

from authsvc.adapters.database import Database
from authsvc.v1 import auth_pb2, auth_pb2_grpc
from http_facade.app import create_app
from http_facade.config import Settings as FacadeSettings
from http_facade.runner import FacadeRunner
from tests.conftest import TEST_SECRET
from tests.facade.client import Facade
from tests.faults.test_database_faults import StoppablePostgres
from tests.support.addresses import TEST_PROXY_TOKEN
from tests.support.grpc_client import bearer, refused_within
from tests.support.processes import ServeProcess, clean_env, start_serve

pytestmark = pytest.mark.timeout(240)

PASSWORD = "a long enough password"
LOAD_SECONDS = 20.0
DOWN_AT = 7.0  # seconds into the load
DOWN_FOR = 3.0
RECOVERY = 2.0  # both replicas serve again this soon after PostgreSQL accepts connections
PROPAGATION = 1.0  # the documented bound for a revocation to reach every replica
ME = "/api/v1/auth/me"


@dataclass
class Outcome:
    kind: str
    started: float
    ended: float
    status: int
    credential: str = ""


@dataclass
class Session:
    access_tokens: list[str]
    refresh_token: str
    acknowledged_refresh: str  # the last refresh token a 200 handed out (or the login's)
    settled: bool = True  # the last refresh was answered: no rotation happened unheard since


@dataclass
class Load:
    facade: Facade
    email: str
    admin_token: str
    outcomes: list[Outcome] = field(default_factory=list)
    refreshing: list[Session] = field(default_factory=list)
    to_log_out: collections.deque[Session] = field(default_factory=collections.deque)
    logged_out: list[Session] = field(default_factory=list)
    live_keys: dict[str, str] = field(default_factory=dict)  # id -> secret
    created_keys: list[str] = field(default_factory=list)
    revoked_keys: list[str] = field(default_factory=list)
    revoked_at: dict[str, float] = field(default_factory=dict)  # credential -> acknowledged at
    uncertain: set[str] = field(default_factory=set)  # revocations whose answer was lost
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def call(
        self, kind: str, method: str, path: str, credential: str = "", **kw: object
    ) -> tuple[int, dict]:
        started = time.monotonic()
        try:
            reply = await asyncio.wait_for(self.facade.call(method, path, **kw), 10)  # type: ignore[arg-type]
            status, body = reply.status, (reply.json if reply.raw else {})
        except (TimeoutError, aiohttp.ClientError):
            status, body = 0, {}
        self.outcomes.append(Outcome(kind, started, time.monotonic(), status, credential))
        return status, body

    def valid_credentials(self) -> list[str]:
        tokens = [s.access_tokens[-1] for s in self.refreshing] + [
            s.access_tokens[0] for s in self.to_log_out
        ]
        return tokens + list(self.live_keys.values())

    async def validating(self, seed: int) -> None:
        chosen = random.Random(seed)
        while not self.stop.is_set():
            pool = self.valid_credentials()
            revoked = list(self.revoked_at)
            if revoked and chosen.random() < 0.3:
                credential = chosen.choice(revoked)
            else:
                credential = chosen.choice(pool)
            kind = "me (key)" if credential.startswith("sf_") else "me (token)"
            await self.call(kind, "GET", ME, credential, token=credential)
            await asyncio.sleep(0.01)

    async def logging_in(self) -> None:
        for number in itertools.count():
            if self.stop.is_set():
                return
            body = {"email": self.email, "password": PASSWORD}
            status, reply = await self.call("login", "POST", "/api/v1/auth/login", json_body=body)
            if status == 200:
                session = Session([reply["access_token"]], reply["refresh_token"], reply["refresh_token"])
                (self.refreshing if number % 2 else self.to_log_out).append(session)
            await asyncio.sleep(0.25)

    async def refreshing_sessions(self, offset: int) -> None:
        for turn in itertools.count(offset, 2):
            if self.stop.is_set():
                return
            session = self.refreshing[turn % len(self.refreshing)]
            body = {"refresh_token": session.refresh_token}
            status, reply = await self.call("refresh", "POST", "/api/v1/auth/refresh", json_body=body)
            session.settled = status == 200
            if status == 200:
                session.refresh_token = session.acknowledged_refresh = reply["refresh_token"]
                session.access_tokens.append(reply["access_token"])
            # Otherwise the same token again later: if its rotation committed unheard, the grace
            # window answers with the session's live pair.
            await asyncio.sleep(0.1)

    async def logging_out(self) -> None:
        while not self.stop.is_set():
            if len(self.to_log_out) < 3:
                await asyncio.sleep(0.1)
                continue
            session = self.to_log_out.popleft()
            token = session.access_tokens[0]
            status, _ = await self.call("logout", "POST", "/api/v1/auth/logout", token, token=token)
            if status == 204:
                self.revoked_at[token] = time.monotonic()
                self.logged_out.append(session)
            else:
                self.uncertain.add(token)
            await asyncio.sleep(0.3)

    async def managing_keys(self) -> None:
        for number in itertools.count():
            if self.stop.is_set():
                return
            body = {"name": f"load-{number}", "permissions": ["geofences:read"], "environment": "test"}
            status, reply = await self.call(
                "create key", "POST", "/api/v1/api-keys", token=self.admin_token, json_body=body
            )
            if status == 201:
                self.live_keys[reply["id"]] = reply["key"]
                self.created_keys.append(reply["id"])
            if number % 2 and len(self.live_keys) > 3:
                key_id, secret = next(iter(self.live_keys.items()))
                del self.live_keys[key_id]
                status, _ = await self.call(
                    "revoke key", "DELETE", f"/api/v1/api-keys/{key_id}", secret, token=self.admin_token
                )
                if status == 204:
                    self.revoked_at[secret] = time.monotonic()
                    self.revoked_keys.append(key_id)
                else:
                    self.uncertain.add(secret)
            await asyncio.sleep(0.2)


async def _serves_again(stub: auth_pb2_grpc.AuthServiceStub, admin: str, since: float) -> float:
    """Seconds from `since` until the replica answers a call that needs the database."""
    while True:
        try:
            await stub.ListApiKeys(auth_pb2.ListApiKeysRequest(), metadata=bearer(admin), timeout=1)
            return time.monotonic() - since
        except grpc.aio.AioRpcError as error:
            assert error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED), error
        assert time.monotonic() - since < 30, "the replica never recovered"
        await asyncio.sleep(0.05)


async def _revoke_when_back(stub: auth_pb2_grpc.AuthServiceStub, admin: str, key_id: str) -> None:
    while True:
        try:
            await stub.RevokeApiKey(
                auth_pb2.RevokeApiKeyRequest(id=key_id), metadata=bearer(admin), timeout=1
            )
            return
        except grpc.aio.AioRpcError as error:
            assert error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED), error
        await asyncio.sleep(0.01)


async def test_postgres_restarted_under_mixed_load_loses_nothing_and_accepts_no_revoked_credential() -> None:
    with tempfile.TemporaryDirectory(prefix="authsvc-restart-") as folder:
        postgres = await asyncio.to_thread(StoppablePostgres, Path(folder))
        email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
        env = clean_env(
            AUTHSVC_DATABASE_URL=postgres.dsn,
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
        replicas: list[ServeProcess] = []
        try:
            replicas.append(await start_serve(env))  # migrates and creates the admin first
            replicas.append(await start_serve(env))
            a, b = (f"127.0.0.1:{replica.port}" for replica in replicas)
            settings = FacadeSettings(authsvc_target=f"ipv4:{a},{b}", port=0, proxy_token=TEST_PROXY_TOKEN)
            runner = FacadeRunner(create_app(settings), shutdown_timeout=1)
            await runner.setup()
            try:
                await web.TCPSite(runner, "127.0.0.1", 0).start()
                async with aiohttp.ClientSession() as http:
                    facade = Facade(f"http://127.0.0.1:{runner.addresses[0][1]}", http)
                    try:
                        await _run(facade, postgres, a, b, email)
                    except BaseException:
                        for name, replica in zip("AB", replicas, strict=True):
                            print(f"replica {name}'s errors:", *replica.errors()[-20:], sep="\n")
                        raise
            finally:
                await runner.cleanup()
        finally:
            for replica in replicas:
                await replica.stop()
            await asyncio.to_thread(postgres.stop)


async def _run(facade: Facade, postgres: StoppablePostgres, a: str, b: str, email: str) -> None:
    admin = (await facade.login(email, PASSWORD))["access_token"]
    load = Load(facade, email, admin)
    for _ in range(4):  # something to validate, refresh and log out from the start
        pair = await facade.login(email, PASSWORD)
        load.refreshing.append(Session([pair["access_token"]], pair["refresh_token"], pair["refresh_token"]))
        key = await facade.create_api_key(admin, ["geofences:read"], name="seed")
        load.live_keys[key["id"]] = key["key"]
        load.created_keys.append(key["id"])
    async with grpc.aio.insecure_channel(a) as to_a, grpc.aio.insecure_channel(b) as to_b:
        stub_a, stub_b = auth_pb2_grpc.AuthServiceStub(to_a), auth_pb2_grpc.AuthServiceStub(to_b)
        # A key both replicas hold as valid, revoked through A the moment the database is back.
        cached = await facade.create_api_key(admin, ["geofences:read"], name="cached")
        for stub in (stub_a, stub_b):
            await stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=cached["key"]))

        began = time.monotonic()
        workers = [
            load.validating(1), load.validating(2), load.logging_in(), load.refreshing_sessions(0),
            load.refreshing_sessions(1), load.logging_out(), load.managing_keys(),
        ]  # fmt: skip
        tasks = [asyncio.create_task(worker) for worker in workers]
        await asyncio.sleep(DOWN_AT)
        down = time.monotonic()
        await asyncio.to_thread(postgres.stop)
        await asyncio.sleep(DOWN_FOR)
        # Through A the moment the database takes writes again: B's listener, cut off by the
        # restart, reconnects on its own schedule and must catch up with what it missed.
        revoking = asyncio.create_task(_revoke_when_back(stub_a, admin, cached["id"]))
        await asyncio.to_thread(postgres.start)
        up = time.monotonic()
        recovered = await asyncio.gather(_serves_again(stub_a, admin, up), _serves_again(stub_b, admin, up))
        await revoking
        reached_b = await refused_within(stub_b, cached["key"], PROPAGATION)
        await asyncio.sleep(max(0.0, LOAD_SECONDS - (time.monotonic() - began)))
        load.stop.set()
        await asyncio.gather(*tasks)
        await _check_database(postgres.dsn, load)
        # ...and the last acknowledged refresh token of each session refreshes, on either replica.
        for number, session in enumerate(s for s in load.refreshing if s.settled):
            request = auth_pb2.RefreshRequest(refresh_token=session.acknowledged_refresh)
            assert (await (stub_a, stub_b)[number % 2].Refresh(request, timeout=5)).refresh_token

    allowed = (down, up + RECOVERY)
    report = collections.Counter(f"{o.kind} {o.status}" for o in load.outcomes)
    print(f"replicas served again after {recovered[0]:.2f} s, {recovered[1]:.2f} s; "
          f"revocation reached B in {reached_b:.3f} s; outcomes {dict(sorted(report.items()))}")  # fmt: skip
    assert max(recovered) <= RECOVERY
    _check_outcomes(load, allowed)


def _check_outcomes(load: Load, allowed: tuple[float, float]) -> None:
    succeeded = {
        "me (key)": 200,
        "me (token)": 200,
        "login": 200,
        "refresh": 200,
        "logout": 204,
        "create key": 201,
        "revoke key": 204,
    }
    wrong = []
    for outcome in load.outcomes:
        acknowledged = load.revoked_at.get(outcome.credential)
        in_outage = outcome.started <= allowed[1] and outcome.ended >= allowed[0]
        if outcome.kind.startswith("me") and acknowledged is not None:  # revoked (maybe after this call)
            settled = outcome.started > acknowledged + PROPAGATION
            if not (
                outcome.status == 401
                or (outcome.status == 200 and not settled)
                or (outcome.status == 503 and in_outage)
            ):
                wrong.append(outcome)  # a revoked credential accepted (or not plainly refused)
            continue
        if outcome.kind.startswith("me") and outcome.status == 401 and outcome.credential in load.uncertain:
            continue  # revoked by a call whose answer was lost
        if outcome.status == succeeded[outcome.kind]:
            continue
        if not (outcome.status == 503 and in_outage):
            wrong.append(outcome)
    described = [
        f"{o.kind} {o.status} {o.started - allowed[0]:+.2f}..{o.ended - allowed[0]:+.2f} s {o.credential[:9]}"
        for o in wrong
    ]
    assert not wrong, f"down at 0, allowed until {allowed[1] - allowed[0]:.2f} s: {described[:20]}"
    assert sum(o.status == 200 for o in load.outcomes if o.started > allowed[1]) > 50  # load went on


async def _check_database(dsn: str, load: Load) -> None:
    database = await Database.connect(dsn, min_size=1, max_size=1)
    try:
        keys = {
            str(row["id"]): row["revoked_at"]
            for row in await database.fetch("SELECT id, revoked_at FROM api_keys")
        }
        assert set(load.created_keys) <= set(keys)
        assert all(keys[key_id] is not None for key_id in load.revoked_keys)
        sessions = {
            str(row["id"]): row
            for row in await database.fetch("SELECT id, current_jti, revoked_at FROM sessions")
        }
        for session in load.logged_out:
            assert sessions[_claim(session.access_tokens[0], "sid")]["revoked_at"] is not None
        for session in load.refreshing:
            row = sessions[_claim(session.acknowledged_refresh, "sid")]
            assert row["revoked_at"] is None
            if session.settled:
                assert str(row["current_jti"]) == _claim(session.acknowledged_refresh, "jti")
    finally:
        await database.close()
    assert load.revoked_keys and load.logged_out  # both kinds of revocation were exercised


def _claim(token: str, name: str) -> str:
    value: str = jwt.decode(token, options={"verify_signature": False})[name]
    return value
