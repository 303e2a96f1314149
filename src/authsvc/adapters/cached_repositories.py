"""Repositories that answer ValidateToken's lookups from the validation cache when they can."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from authsvc.adapters.pg_api_keys import PgApiKeyRepository
from authsvc.adapters.pg_sessions import PgSessionRepository
from authsvc.adapters.validation_cache import ValidationCache
from authsvc.domain.errors import AuthError, ErrorCode
from authsvc.domain.pages import Cursor
from authsvc.service.ports import ApiKeyRecord, KeyFilter


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


class CachedApiKeyRepository:
    def __init__(self, inner: PgApiKeyRepository, cache: ValidationCache) -> None:
        self._inner = inner
        self._cache = cache

    def known(self, digest: bytes) -> tuple[bool, ApiKeyRecord | None]:
        hit = self._cache.lookup_key(digest)
        if ValidationCache.missing(hit):
            return False, None
        return True, cast(ApiKeyRecord | None, hit)

    async def by_digest(self, digest: bytes) -> ApiKeyRecord | None:
        found, record = self.known(digest)
        if found:
            return record
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
