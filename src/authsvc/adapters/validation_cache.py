"""What ValidateToken needs from the database, remembered between calls.

Entries are evicted by cross-replica notifications (see `invalidation`), expire after a short
TTL as a backstop, and are not used at all while the replica is not listening. A generation
counter keeps a lookup that raced with an invalidation from storing its stale answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Generic, TypeVar

from authsvc.service.ports import ApiKeyRecord

K = TypeVar("K")
V = TypeVar("V")
_MISSING = object()


class _Table(Generic[K, V]):
    def __init__(self, max_entries: int, ttl: float, clock: Callable[[], float]) -> None:
        self._entries: dict[K, tuple[V, float]] = {}
        self._max = max_entries
        self._ttl = ttl
        self._clock = clock

    def get(self, key: K) -> V | object:
        entry = self._entries.get(key)
        if entry is None or self._clock() - entry[1] > self._ttl:
            return _MISSING
        return entry[0]

    def put(self, key: K, value: V) -> None:
        if len(self._entries) >= self._max:
            for oldest in list(self._entries)[: max(1, self._max // 10)]:
                del self._entries[oldest]
        self._entries[key] = (value, self._clock())

    def pop(self, key: K) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()


class ValidationCache:
    def __init__(
        self, max_entries: int = 100_000, ttl: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.generation = 0
        self._max_entries = max_entries
        self.enabled = False  # only while the invalidation listener is connected
        self.sessions: _Table[str, datetime | None] = _Table(max_entries, ttl, clock)
        self.api_keys: _Table[bytes, ApiKeyRecord | None] = _Table(max_entries, ttl, clock)
        self._digest_of: dict[str, bytes] = {}

    @staticmethod
    def missing(value: object) -> bool:
        return value is _MISSING

    def remember_key(self, digest: bytes, record: ApiKeyRecord | None, generation: int) -> None:
        if self.enabled and generation == self.generation:
            if len(self._digest_of) >= self._max_entries:
                self.clear()
            self.api_keys.put(digest, record)
            if record is not None:
                self._digest_of[record.id] = digest

    def remember_session(self, session_id: str, active_until: datetime | None, generation: int) -> None:
        if self.enabled and generation == self.generation:
            self.sessions.put(session_id, active_until)

    def invalidate(self, message: str) -> None:
        """Applies one notification: "session:<id>" or "api_key:<id>"; anything else clears all."""
        self.generation += 1
        kind, _, ident = message.partition(":")
        if kind == "session":
            self.sessions.pop(ident)
        elif kind == "api_key":
            digest = self._digest_of.pop(ident, None)
            if digest is not None:
                self.api_keys.pop(digest)
        else:
            self.clear()

    def set_listening(self, listening: bool) -> None:
        self.clear()
        self.enabled = listening

    def clear(self) -> None:
        self.generation += 1
        self.sessions.clear()
        self.api_keys.clear()
        self._digest_of.clear()
