"""Repositories that answer ValidateToken's lookups from the validation cache when they can."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from authsvc.adapters import invalidation_messages as messages
from authsvc.adapters.pg_api_keys import PgApiKeyRepository
from authsvc.adapters.pg_sessions import PgSessionRepository
from authsvc.adapters.pg_users import PgUserRepository
from authsvc.adapters.validation_cache import ValidationCache
from authsvc.domain.permissions import Role
from authsvc.service.ports import ApiKeyRecord, RefreshTokenRecord, UserRecord


class CachedSessionRepository:
    """Sessions, with liveness answered from the replica's revocation index when it is complete."""

    def __init__(self, inner: PgSessionRepository, cache: ValidationCache) -> None:
        self._inner = inner
        self._cache = cache

    async def is_live(self, session_id: str, user_id: str) -> bool:
        known = self._cache.session_is_live(session_id, user_id)
        return known if known is not None else await self._inner.is_live(session_id, user_id)

    async def start(
        self,
        user_id: str,
        session_expires_at: datetime,
        token: RefreshTokenRecord,
        access_expires_at: datetime,
    ) -> str:
        return await self._inner.start(user_id, session_expires_at, token, access_expires_at)


class CachedApiKeyRepository:
    def __init__(self, inner: PgApiKeyRepository, cache: ValidationCache) -> None:
        self._inner = inner
        self._cache = cache

    async def by_digest(self, digest: bytes) -> ApiKeyRecord | None:
        hit = self._cache.lookup_key(digest)
        if not ValidationCache.missing(hit):
            return cast(ApiKeyRecord | None, hit)
        generation = self._cache.generation
        record = await self._inner.by_digest(digest)
        self._cache.remember_key(digest, record, generation)
        return record

    async def list(self, workspace_id: str) -> Sequence[ApiKeyRecord]:
        return await self._inner.list(workspace_id)


class CachedUserRepository:
    """Disabling a user reaches this replica's revocation index at once; others hear of it by NOTIFY."""

    def __init__(self, inner: PgUserRepository, cache: ValidationCache) -> None:
        self._inner = inner
        self._cache = cache

    async def disable(self, email: str | None = None, user_id: str | None = None) -> str | None:
        user_id = await self._inner.disable(email, user_id)
        if user_id is not None:
            self._cache.invalidate(messages.user_disabled(user_id))
        return user_id

    async def by_email(self, email: str) -> UserRecord | None:
        return await self._inner.by_email(email)

    async def create(self, workspace_id: str, email: str, password_hash: str, role: Role) -> UserRecord:
        return await self._inner.create(workspace_id, email, password_hash, role)

    async def count(self) -> int:
        return await self._inner.count()
