"""Keeping one replica's in-memory state in step with the others, through PostgreSQL.

One LISTEN connection feeds the validation cache (revocations, disabled users, revoked keys) and
announces signing-key rotations; on every (re)connection the revocation index and the key ring
are read again in full, since anything announced while deaf was missed, and the most used API
keys are read into the cache; a key created on any replica is read in as soon as it is
announced. So a known key's first validation needs no query either.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from authsvc import metrics
from authsvc.adapters import invalidation_messages as messages
from authsvc.adapters import revocation_log
from authsvc.adapters.database import Database
from authsvc.adapters.invalidation import BARRIER_CHANNEL, InvalidationListener
from authsvc.adapters.pg_api_keys import PgApiKeyRepository
from authsvc.adapters.pg_sessions import PgSessionRepository
from authsvc.adapters.reloading import Reloader
from authsvc.adapters.revocation_feed import RevocationFeed
from authsvc.adapters.validation_cache import ValidationCache
from authsvc.domain.errors import AuthError

log = logging.getLogger(__name__)
INDEX_RELOAD_SECONDS = 600.0  # a full reload also forgets revocations whose tokens have expired
CATCH_UP_SECONDS = 1.0  # the longest a catch-up waits for its marker to come back


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
        self._database = database
        self._sessions = PgSessionRepository(database)
        self._api_keys = PgApiKeyRepository(database)
        self._warming: set[asyncio.Task[None]] = set()
        self._awaited: dict[str, asyncio.Future[None]] = {}
        self._barrier: asyncio.Future[bool] | None = None  # the marker in flight
        self._next_barrier: asyncio.Future[bool] | None = None  # the one for callers who came since
        self.markers_sent = 0
        self._cache = cache
        self._signing_keys = keys
        # The revocations in order, for WatchRevocations: complete exactly when the index is.
        self.feed = RevocationFeed(lambda: cache.enabled and cache.index_complete)
        # Told of each workspace whose plan changed (bootstrap sets it to the plans' `forget`).
        self.on_workspace_plan: Callable[[str], None] | None = None
        self.index = Reloader("revocation index", self._load_index, index_interval)
        self.listener = InvalidationListener(
            dsn, self._on_message, self._on_listening, on_barrier=self._on_barrier
        )

    def tasks(self) -> list[Coroutine[Any, Any, None]]:
        """The coroutines to run for as long as the replica serves."""
        runs = [self.listener.run(), self.index.run()]
        if self._signing_keys is not None:
            runs.append(self._signing_keys.run())
        return runs

    async def _load_index(self) -> None:
        epoch = self._cache.begin_index_load()
        feed = self.feed
        feed.begin_load()
        # The numbered revocations first: what the index is then read with holds them all.
        missed = None
        if feed.sequence:
            missed = await revocation_log.after(self._database, feed.sequence, feed.capacity)
        latest = await revocation_log.latest(self._database) if missed is None else 0
        sessions, users = await self._sessions.revoked_recently(self._leeway)
        keys = await self._api_keys.most_used(self._cache.capacity // 2)
        digests = await self._api_keys.live_digests()
        self._cache.finish_index_load(epoch, sessions, users, keys, digests)
        feed.finish_load(missed, latest)

    def expect(self, message: str) -> asyncio.Future[None] | None:
        """A future done when this replica's listener hears `message`, for a key creation about to
        be committed (None for any other message, or while not listening).

        Every replica's listener hears a notification at about the same moment, so once this one
        has, the others have had it too: CreateApiKey waits for it before answering, and a key
        used at once on another replica is already among the live digests there (which refuse,
        without a query, any digest they do not hold)."""
        if messages.parse(message).kind != messages.KEY_CREATED or not self.listener.listening.is_set():
            return None
        future = self._awaited[message] = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda _: self._awaited.pop(message, None))
        return future

    async def caught_up(self) -> bool:
        """Returns once this replica has heard every notification committed before the call, True;
        False when it cannot tell within CATCH_UP_SECONDS (not listening, PostgreSQL slow or away).

        A key created on another replica is announced at its commit, but this replica's listener
        may hear it a moment after the client, told of the key, presents it here. Before refusing
        a digest its live set lacks, a replica sends itself a marker and waits for it: heard, it
        has heard the creation too (PostgreSQL delivers in commit order). Callers share markers,
        so a flood of made-up keys costs one marker per round trip, not one query each; a caller
        only joins a marker sent after it came (an earlier one may predate the creation)."""
        if not self.listener.listening.is_set():
            return False
        if self._barrier is None:
            self._barrier = self._send_barrier()
            return await asyncio.shield(self._barrier)
        if self._next_barrier is None:
            self._next_barrier = asyncio.get_running_loop().create_future()
        return await asyncio.shield(self._next_barrier)

    def _send_barrier(self) -> asyncio.Future[bool]:
        done = asyncio.get_running_loop().create_future()
        task = asyncio.get_running_loop().create_task(self._barrier_round(done))
        self._warming.add(task)
        task.add_done_callback(self._warming.discard)
        return done

    async def _barrier_round(self, done: asyncio.Future[bool]) -> None:
        marker = uuid.uuid4().hex
        self.markers_sent += 1
        metrics.CATCH_UP_MARKERS.inc()
        heard = self._awaited[marker] = asyncio.get_running_loop().create_future()
        outcome = False
        try:
            async with asyncio.timeout(CATCH_UP_SECONDS):
                await self._database.execute("SELECT pg_notify($1, $2)", BARRIER_CHANNEL, marker)
                await heard
            outcome = True
        except (TimeoutError, AuthError, OSError) as error:
            log.info("catch-up marker not heard (%s)", type(error).__name__)
        finally:
            self._awaited.pop(marker, None)
            done.set_result(outcome)
            waiting, self._next_barrier = self._next_barrier, None
            self._barrier = None
            if waiting is not None:  # those who came while this one was out: a marker of their own
                self._barrier = self._send_barrier()
                self._barrier.add_done_callback(lambda sent: waiting.set_result(sent.result()))

    def _on_barrier(self, marker: str) -> None:
        heard = self._awaited.get(marker)
        if heard is not None and not heard.done():
            heard.set_result(None)

    def _on_message(self, message: str) -> None:
        awaited = self._awaited.get(message)
        if awaited is not None and not awaited.done():
            awaited.set_result(None)
        kind, ident, *_ = messages.parse(message)
        if kind == messages.WORKSPACE_PLAN and self.on_workspace_plan is not None:
            self.on_workspace_plan(ident)
        if kind == messages.SIGNING_KEYS_CHANGED:
            if self._signing_keys is not None:
                self._signing_keys.soon()
            return
        if not self._cache.invalidate(message):
            self.index.soon()  # a message we do not know (or a key without its digest): read all again
        self.feed.heard(message)
        if kind == messages.KEY_CREATED:
            task = asyncio.get_running_loop().create_task(self._warm_key(ident))
            self._warming.add(task)
            task.add_done_callback(self._warming.discard)

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
        if not listening:
            self.feed.deaf()
        if listening:
            self.index.soon()
            if self._signing_keys is not None:
                self._signing_keys.soon()
