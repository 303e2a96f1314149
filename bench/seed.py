"""Seeds users, sessions and API keys with authsvc's own code, fast: no bcrypt login per session.

The runtime is `authsvc.bootstrap.open_runtime` with the server's own settings, so the seed
writes what the server would. Users come from UserService (one bcrypt hash each, at the
configured cost, so Login is real); each session is what a login would have written: a refresh
record, the session row (PgSessionRepository.start) and the pair, signed with the server's own
keys (TokenIssuer.mint_pair).
API keys come from ApiKeyService.create on behalf of an admin.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from authsvc.adapters.clock import SystemClock
from authsvc.bootstrap import open_runtime
from authsvc.config import Settings
from authsvc.domain.permissions import role_permissions
from authsvc.domain.principal import Principal, PrincipalKind
from authsvc.service.ports import UserRecord
from authsvc.service.tokens import TokenPair

KEY_PERMISSIONS = ("geofences:read", "geofences:write")
CONCURRENCY = 8  # below the pool's default 10 connections
T = TypeVar("T")


GENEROUS = 10**9  # requests a minute: a key and plan (runner.PLANS) the bench never spends


@dataclass(frozen=True)
class Seeded:
    emails: list[str]  # every seeded user has `password`
    password: str
    access_tokens: list[str]
    refresh_tokens: list[str]
    api_keys: list[str]
    metered_key: str  # a limit of its own far above what the bench can spend (2c)
    spent_key: str  # 1 request a minute, spent before the bench starts (2d)


async def _gather(count: int, make: Callable[[int], Awaitable[T]]) -> list[T]:
    """make(0..count-1), at most CONCURRENCY at a time, results in order."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(index: int) -> T:
        async with gate:
            return await make(index)

    return list(await asyncio.gather(*(one(i) for i in range(count))))


def _admin(user: UserRecord, settings: Settings) -> Principal:
    assert user.membership is not None  # made in its workspace just now
    return Principal(
        kind=PrincipalKind.USER,
        subject_id=user.id,
        user_id=user.id,
        workspace_id=user.membership.workspace_id,
        permissions=role_permissions(user.membership.role, settings.permissions),
    )


async def seed(settings: Settings, users: int, sessions: int, api_keys: int) -> Seeded:
    """`users` users in one workspace (the first an admin), `sessions` logins spread over them."""
    clock = SystemClock()
    run, password = uuid.uuid4().hex[:8], secrets.token_urlsafe(16)
    async with open_runtime(settings, clock) as runtime:
        services = runtime.services  # the server's own database, signing keys and rules

        async def user(i: int) -> UserRecord:
            role = "admin" if i == 0 else "member"
            return await services.users.create(f"bench-{run}-{i}@example.com", password, role, f"bench-{run}")

        people = await _gather(users, user)

        async def login(i: int) -> TokenPair:
            # What a login does once the password has matched: no bcrypt for 10,000 sessions.
            _, pair = await services.sessions.start_session(people[i % len(people)])
            return pair

        pairs = await _gather(sessions, login)
        admin = _admin(people[0], settings)

        async def key(i: int) -> str:
            _, secret_key = await services.api_keys.create(admin, f"bench key {i}", KEY_PERMISSIONS, "live")
            return secret_key

        keys = await _gather(api_keys, key)
        _, metered = await services.api_keys.create(
            admin, "bench metered key", KEY_PERMISSIONS, "live", rate_limit=(GENEROUS, 0)
        )
        _, spent = await services.api_keys.create(
            admin, "bench spent key", KEY_PERMISSIONS, "live", rate_limit=(1, 0)
        )
        await services.authenticator.charged(spent, (), 1)  # this minute's one request
    return Seeded(
        emails=[p.email for p in people],
        password=password,
        access_tokens=[p.access_token for p in pairs],
        refresh_tokens=[p.refresh_token for p in pairs],
        api_keys=keys,
        metered_key=metered,
        spent_key=spent,
    )
