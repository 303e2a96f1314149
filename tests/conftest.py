"""Shared fixtures: one real PostgreSQL and real gRPC servers, all on one session event loop."""

from __future__ import annotations

import os

# The tests start child processes (pg_ctl, nginx, authsvc...) while gRPC calls run on other
# threads; gRPC's fork handlers are not safe then (a child died with SIGSEGV before its exec), and
# a child that only execs needs none. Read when gRPC initialises, so before anything imports it.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import grpc
import hypothesis
import pytest

from authsvc.adapters.database import Database
from authsvc.adapters.keyring import KeyRing
from authsvc.adapters.migrations import migrate
from authsvc.adapters.pg_api_keys import BatchedUsageRecorder
from authsvc.adapters.pg_signing_keys import PgSigningKeyStore
from authsvc.adapters.replica_sync import ReplicaSync
from authsvc.adapters.validation_cache import ValidationCache
from authsvc.bootstrap import build_services
from authsvc.config import Settings
from authsvc.domain.rate_limits import RateLimit
from authsvc.grpc_api.peers import TrustedProxies
from authsvc.grpc_api.server import start_server
from authsvc.service.container import Services
from authsvc.service.ports import Clock
from authsvc.v1 import auth_pb2_grpc
from tests.support.addresses import TEST_PROXY_TOKEN
from tests.support.clock import FakeClock
from tests.support.postgres import suite_database_url, with_database

TEST_SECRET = secrets.token_bytes(32)

# Property tests: a quick profile for `make test`, a thorough one for CI (.ci/run sets it).
hypothesis.settings.register_profile("quick", max_examples=100, deadline=None, database=None)
hypothesis.settings.register_profile("thorough", max_examples=2_000, deadline=None, database=None)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with suite_database_url() as url:
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    # bcrypt cost 10 is the lowest the service allows; it keeps the suite quick. Every test logs in
    # from 127.0.0.1, so the shared limits are wide here; the rate-limit tests set their own and
    # use client IPs of their own.
    return Settings(
        database_url=database_url,
        jwt_secret=TEST_SECRET,
        bcrypt_cost=10,
        login_rate_limit=RateLimit(1_000_000, 60),
        refresh_rate_limit=RateLimit(1_000_000, 60),
        password_reset_rate_limit=RateLimit(1_000_000, 60),
        invitation_rate_limit=RateLimit(1_000_000, 60),
        proxy_tokens=(TEST_PROXY_TOKEN,),
    )


@pytest.fixture(scope="session")
async def database(settings: Settings) -> AsyncIterator[Database]:
    assert settings.database_url is not None
    db = await Database.connect(settings.database_url, min_size=1, max_size=10)
    async with db.connection() as conn:
        await migrate(conn)
    yield db
    await db.close()


@pytest.fixture
async def fresh_database_url(database: Database, database_url: str) -> AsyncIterator[str]:
    """A migrated database of this test's own, for tests that change service-wide state."""
    name = f"authsvc_t_{uuid.uuid4().hex[:12]}"
    await database.execute(f'CREATE DATABASE "{name}"')
    url = with_database(database_url, name)
    own = await Database.connect(url, min_size=1, max_size=2)
    async with own.connection() as conn:
        await migrate(conn)
    await own.close()
    yield url
    await database.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@dataclass
class Running:
    """One AuthService on a real port, its stub over a real channel, and what it was built with."""

    stub: auth_pb2_grpc.AuthServiceStub
    services: Services
    settings: Settings
    clock: Clock
    usage: BatchedUsageRecorder
    port: int
    cache: ValidationCache
    sync: ReplicaSync


ServerFactory = Callable[..., Awaitable[Running]]


@pytest.fixture
async def start_authsvc(
    settings: Settings, database: Database, database_url: str
) -> AsyncIterator[ServerFactory]:
    """Starts AuthService instances with a chosen clock and settings; stops them afterwards."""
    started: list[tuple[grpc.aio.Server, grpc.aio.Channel]] = []
    listeners: list[asyncio.Task[None]] = []

    async def start(clock: Clock | None = None, db: Database | None = None, **overrides: object) -> Running:
        """`db`: the pool it runs on, if not the suite's; `overrides`: Settings fields."""
        chosen = settings.model_copy(update=overrides)
        database_used = db or database
        the_clock = clock or FakeClock()
        usage = BatchedUsageRecorder(database_used)
        cache = ValidationCache()
        sync = ReplicaSync(database_url, database_used, cache)
        listeners.extend(asyncio.create_task(run) for run in sync.tasks())
        await asyncio.wait_for(sync.listener.listening.wait(), 10)
        services = build_services(chosen, database_used, TEST_SECRET, the_clock, usage, cache, sync=sync)
        proxies = TrustedProxies(chosen.proxy_tokens, chosen.trusted_proxies)
        server, port = await start_server(services, "127.0.0.1:0", None, proxies, chosen.envoy_check_cost)
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        started.append((server, channel))
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        return Running(stub, services, chosen, the_clock, usage, port, cache, sync)

    yield start
    for server, channel in started:
        await channel.close()
        await server.stop(None)
    for task in listeners:
        task.cancel()
    await asyncio.gather(*listeners, return_exceptions=True)


@pytest.fixture
async def authsvc(start_authsvc: ServerFactory) -> Running:
    return await start_authsvc()


@dataclass
class Account:
    email: str
    password: str
    workspace: str
    user_id: str
    workspace_id: str


AccountFactory = Callable[..., Awaitable[Account]]


@pytest.fixture
def make_account(authsvc: Running) -> AccountFactory:
    """Creates a user with a unique email (and, unless given, a unique workspace)."""

    async def make(role: str = "admin", workspace: str | None = None) -> Account:
        email = f"user-{uuid.uuid4().hex[:12]}@example.com"
        password = secrets.token_urlsafe(12)
        workspace_name = workspace or f"ws-{uuid.uuid4().hex[:12]}"
        user = await authsvc.services.users.create(email, password, role, workspace_name)
        return Account(email, password, workspace_name, user.id, user.workspace_id)

    return make


@dataclass
class KeyedAuthsvc:
    """An AuthService on a database of its own whose signing keys are in PostgreSQL, so a test
    can rotate them (`rotate`) without touching the keys every other test signs with."""

    port: int
    services: Services
    store: PgSigningKeyStore
    ring: KeyRing
    clock: FakeClock
    database: Database

    async def rotate(self, algorithm: str, retire_after: float, activation_delay: float = 0) -> str:
        kid = await self.store.rotate(algorithm, self.clock.now(), activation_delay, retire_after)
        self.ring.replace(await self.store.load())
        return kid


@pytest.fixture
async def keyed_authsvc(fresh_database_url: str, settings: Settings) -> AsyncIterator[KeyedAuthsvc]:
    database = await Database.connect(fresh_database_url, min_size=1, max_size=4)
    clock = FakeClock()
    store = PgSigningKeyStore(database, TEST_SECRET)
    ring = KeyRing(await store.ensure_initial("HS256", clock.now()))
    services = build_services(settings, database, ring, clock, BatchedUsageRecorder(database))
    server, port = await start_server(services, "127.0.0.1:0")
    yield KeyedAuthsvc(port, services, store, ring, clock, database)
    await server.stop(None)
    await database.close()
