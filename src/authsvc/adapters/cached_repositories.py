"""Repositories that answer ValidateToken's lookups from the validation cache when they can."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import cast

from authsvc.adapters.pg_api_keys import PgApiKeyRepository
from authsvc.adapters.pg_sessions import PgSessionRepository
from authsvc.adapters.validation_cache import UNLISTED, ValidationCache
from authsvc.domain.errors import AuthError, ErrorCode
from authsvc.domain.pages import Cursor
from authsvc.service.ports import ApiKeyRecord, KeyFilter, SessionInfo


class CachedSessionRepository:
    """Sessions, with liveness answered from the replica's revocation index when it is complete."""

    def __init__(self, inner: PgSessionRepository, cache: ValidationCache) -> None:
        self._inner = inner
        self._cache = cache

    async def is_live(self, session_id: str, user_id: str) -> bool:
        known = self._cache.session_is_live(session_id, user_id)
        if known is not None:
            return known
        try:
            return await self._inner.is_live(session_id, user_id)
        except AuthError as error:
            held = self._cache.stale_session_is_live(session_id, user_id) if _unavailable(error) else None
            if held is None:
                raise
            return held

    async def of_user(
        self, user_id: str, now: datetime, after: Cursor | None, limit: int
    ) -> list[SessionInfo]:
        return await self._inner.of_user(user_id, now, after, limit)


class CachedApiKeyRepository:
    """API keys, answered from the validation cache when it can. A digest the live set lacks is
    refused without a query, once `catch_up` (ReplicaSync.caught_up) shows this replica has heard
    every key created before the call: a key made on another replica a moment ago is accepted."""

    def __init__(
        self,
        inner: PgApiKeyRepository,
        cache: ValidationCache,
        catch_up: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self._inner = inner
        self._cache = cache
        self._catch_up = catch_up

    def known(self, digest: bytes) -> tuple[bool, ApiKeyRecord | None]:
        hit = self._cache.lookup_key(digest)
        if ValidationCache.missing(hit) or (hit is UNLISTED and self._catch_up is not None):
            return False, None  # the awaiting path decides
        return True, None if hit is UNLISTED else cast(ApiKeyRecord | None, hit)

    async def by_digest(self, digest: bytes) -> ApiKeyRecord | None:
        found, record = self.known(digest)
        if found:
            return record
        if self._cache.lookup_key(digest) is UNLISTED and self._catch_up is not None:
            if not await self._catch_up():
                # Not heard within the wait (PostgreSQL slow, the loop swamped): asking the
                # database for every made-up key now is what the live set exists to prevent.
                raise AuthError(ErrorCode.UNAVAILABLE)
            hit = self._cache.lookup_key(digest)  # heard of meanwhile, or truly no live key
            if hit is UNLISTED or not ValidationCache.missing(hit):
                return None if hit is UNLISTED else cast(ApiKeyRecord | None, hit)
        generation = self._cache.generation
        try:
            record = await self._inner.by_digest(digest)
        except AuthError as error:
            held = self._cache.stale_key(digest) if _unavailable(error) else None
            if held is None:
                raise
            return held
        self._cache.remember_key(digest, record, generation)
        return record

    async def in_workspace(self, workspace_id: str, key_id: str) -> ApiKeyRecord | None:
        return await self._inner.in_workspace(workspace_id, key_id)

    async def list(
        self, workspace_id: str, after: Cursor | None, limit: int, only: KeyFilter
    ) -> Sequence[ApiKeyRecord]:
        return await self._inner.list(workspace_id, after, limit, only)


def _unavailable(error: AuthError) -> bool:
    return error.code is ErrorCode.UNAVAILABLE
