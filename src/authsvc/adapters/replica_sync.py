"""Keeping one replica's in-memory state in step with the others, through PostgreSQL.

One LISTEN connection feeds the validation cache (revocations, disabled users, revoked keys) and
announces signing-key rotations; on every (re)connection the revocation index and the key ring
are read again in full, since anything announced while deaf was missed, and the most used API
keys are read into the cache; a key created on any replica is read in as soon as it is
announced. So a known key's first validation needs no query either.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from authsvc.adapters.database import Database
from authsvc.adapters.invalidation import InvalidationListener
from authsvc.adapters.pg_api_keys import KEY_CREATED, PgApiKeyRepository
from authsvc.adapters.pg_sessions import PgSessionRepository
from authsvc.adapters.pg_signing_keys import SIGNING_KEYS_MESSAGE
from authsvc.adapters.reloading import Reloader
from authsvc.adapters.validation_cache import ValidationCache
from authsvc.domain.errors import AuthError

INDEX_RELOAD_SECONDS = 600.0  # a full reload also forgets revocations whose tokens have expired


class ReplicaSync:
    def __init__(
        self,
        dsn: str,
        database: Database,
        cache: ValidationCache,
        keys: Reloader | None = None,
        index_interval: float = INDEX_RELOAD_SECONDS,
        leeway_seconds: int = 30,
    ) -> None:
        self._leeway = leeway_seconds
        self._sessions = PgSessionRepository(database)
        self._api_keys = PgApiKeyRepository(database)
        self._warming: set[asyncio.Task[None]] = set()
        self._cache = cache
        self._signing_keys = keys
        self.index = Reloader("revocation index", self._load_index, index_interval)
        self.listener = InvalidationListener(dsn, self._on_message, self._on_listening)

    def tasks(self) -> list[Coroutine[Any, Any, None]]:
        """The coroutines to run for as long as the replica serves."""
        runs = [self.listener.run(), self.index.run()]
        if self._signing_keys is not None:
            runs.append(self._signing_keys.run())
        return runs

    async def _load_index(self) -> None:
        epoch = self._cache.begin_index_load()
        sessions, users = await self._sessions.revoked_recently(self._leeway)
        keys = await self._api_keys.most_used(self._cache.capacity // 2)
        self._cache.finish_index_load(epoch, sessions, users, keys)

    def _on_message(self, message: str) -> None:
        kind, _, ident = message.partition(":")
        if message == SIGNING_KEYS_MESSAGE:
            if self._signing_keys is not None:
                self._signing_keys.soon()
        elif kind == KEY_CREATED:
            self._cache.invalidate(message)
            task = asyncio.get_running_loop().create_task(self._warm_key(ident))
            self._warming.add(task)
            task.add_done_callback(self._warming.discard)
        elif not self._cache.invalidate(message):
            self.index.soon()  # a message we do not know: read everything again

    async def _warm_key(self, key_id: str) -> None:
        generation = self._cache.generation
        try:
            found = await self._api_keys.with_digest(key_id)
        except AuthError:
            return  # it will be looked up on first use instead
        if found is not None:
            self._cache.remember_key(*found, generation)

    def _on_listening(self, listening: bool) -> None:
        self._cache.set_listening(listening)
        if listening:
            self.index.soon()
            if self._signing_keys is not None:
                self._signing_keys.soon()
