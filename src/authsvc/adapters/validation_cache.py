"""What ValidateToken needs from the database, kept in memory on each replica.

- A revocation index: the sessions revoked while their access tokens may still be presented,
  and the disabled users. Loaded in full when the invalidation listener (re)connects and every
  few minutes, and kept current in between by notifications, so a valid JWT needs no query.
- API-key lookups by digest (found or not), evicted by notifications and expiring after a TTL.
- The digest of every live API key, read with the index and added to as creations are announced
  (each announcement carries its key's digest): a key whose digest is not there is refused with
  no query, however many made-up keys an attacker sends. Revoked keys stay in it until the next
  full read (every few minutes): their lookups find nothing, and are remembered as such.

Nothing here is used while the replica is not listening: validation then asks PostgreSQL, so a
lost notification can never keep a revoked credential alive. Only when PostgreSQL cannot answer
either (it is restarting) does validation fall back to what was held when listening stopped, for
`stale_seconds` at most (issue 15's staleness rule, as the SDK's): valid credentials keep passing
through a short outage, those revoked before it stay refused, and past it every check is
UNAVAILABLE as before. Generation counters keep a key
lookup that raced with a notification which made its answer stale from storing that answer: a
revocation (key or user) stales a found record, a creation stales a "no such key". Nothing else
does, so the burst of notifications a bulk creation or many logouts send does not stop keys
being cached.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator

from authsvc.adapters import invalidation_messages as messages
from authsvc.service.ports import ApiKeyRecord

_MISSING = object()
UNLISTED = (
    object()
)  # a digest the live set lacks: no live key has it, or one this replica has not heard of yet


class _Table:
    def __init__(self, max_entries: int, ttl: float, clock: Callable[[], float]) -> None:
        self._entries: dict[bytes, tuple[ApiKeyRecord | None, float]] = {}
        self._max = max_entries
        self._ttl = ttl
        self._clock = clock

    def get(self, key: bytes) -> ApiKeyRecord | object | None:
        entry = self._entries.get(key)
        if entry is None:
            return _MISSING
        if self._clock() - entry[1] > self._ttl:
            del self._entries[key]  # past its backstop: asked again, and gone meanwhile
            return _MISSING
        return entry[0]

    def put(self, key: bytes, value: ApiKeyRecord | None) -> None:
        if len(self._entries) >= self._max:
            for oldest in list(self._entries)[: max(1, self._max // 10)]:
                del self._entries[oldest]
        self._entries[key] = (value, self._clock())

    def pop(self, key: bytes) -> None:
        self._entries.pop(key, None)

    def records(self) -> Iterator[tuple[bytes, ApiKeyRecord]]:
        return ((key, record) for key, (record, _) in self._entries.items() if record is not None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class ValidationCache:
    def __init__(
        self,
        max_entries: int = 100_000,
        ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        stale_seconds: float = 10.0,
    ) -> None:
        self._clock = clock
        self._stale_seconds = stale_seconds
        # What was held when listening stopped, with a complete index: (since, sessions, users, keys).
        self._held: tuple[float, frozenset[str], frozenset[str], dict[bytes, ApiKeyRecord]] | None = None
        self._key_revocations = 0
        self._key_creations = 0
        self.enabled = False  # only while the invalidation listener is connected
        self.index_complete = False  # the revocation index holds everything since listening began
        self.api_keys = _Table(max_entries, ttl, clock)
        self.capacity = max_entries
        # Unknown digests live apart: anyone can make up keys with a valid checksum, and they must
        # not push the real keys out.
        self.unknown_keys = _Table(max(1, max_entries // 10), ttl, clock)
        # The digests each cached key is cached under: its secret, and during a rotation's overlap
        # the one before.
        self._digests_of: dict[str, set[bytes]] = {}
        self._revoked_sessions: set[str] = set()
        self._disabled_users: set[str] = set()
        self._live_digests: set[bytes] = set()
        # Whether _live_digests holds every live key (read since listening began, and no creation
        # announced without its digest since, as an older release announces them).
        self._digests_complete = False
        self._listening_epoch = 0
        self._heard_while_loading: list[str] | None = None

    @staticmethod
    def missing(value: object) -> bool:
        return value is _MISSING

    # --- the revocation index -------------------------------------------------------------
    def session_is_live(self, session_id: str, user_id: str) -> bool | None:
        """True/False from the index, or None when the index cannot answer (ask the database)."""
        if not (self.enabled and self.index_complete):
            return None
        return session_id not in self._revoked_sessions and user_id not in self._disabled_users

    def revocation_index(self) -> tuple[frozenset[str], frozenset[str]]:
        """The revoked sessions and disabled users held now (complete when `index_complete`)."""
        return frozenset(self._revoked_sessions), frozenset(self._disabled_users)

    def begin_index_load(self) -> int:
        """Call before reading the index from the database; pass the result to `finish_index_load`."""
        self._heard_while_loading = []
        return self._listening_epoch

    def finish_index_load(
        self,
        epoch: int,
        sessions: Iterable[str],
        users: Iterable[str],
        keys: Iterable[tuple[bytes, ApiKeyRecord]] = (),
        live_digests: Iterable[bytes] | None = None,
    ) -> None:
        """Installs a freshly read index (and warms the key cache), plus whatever was notified
        while it was being read. `live_digests`: every live key's digest (None: not read)."""
        heard, self._heard_while_loading = self._heard_while_loading or [], None
        if not self.enabled or epoch != self._listening_epoch:
            return  # the listener dropped meanwhile: that load may have missed something
        self._revoked_sessions, self._disabled_users = set(sessions), set(users)
        self._live_digests = set(live_digests or ())
        self._digests_complete = live_digests is not None
        for digest, record in keys:
            self.api_keys.put(digest, record)
            self._digests_of.setdefault(record.id, set()).add(digest)
        if all([self.invalidate(message) for message in heard]):
            self.index_complete = True

    # --- API keys -------------------------------------------------------------------------
    @property
    def generation(self) -> tuple[int, int]:
        """Take it before a key lookup and hand it to `remember_key` with the answer."""
        return (self._key_revocations, self._key_creations)

    def remember_key(self, digest: bytes, record: ApiKeyRecord | None, generation: tuple[int, int]) -> None:
        revocations, creations = generation
        if not self.enabled or revocations != self._key_revocations:
            return
        if record is None:
            if creations == self._key_creations:
                self.unknown_keys.put(digest, None)
            return
        if len(self._digests_of) >= 2 * self.capacity:  # ids of records the table has dropped since
            self._digests_of = {}
            for key, cached in self.api_keys.records():
                self._digests_of.setdefault(cached.id, set()).add(key)
        self.api_keys.put(digest, record)
        self._digests_of.setdefault(record.id, set()).add(digest)

    def lookup_key(self, digest: bytes) -> ApiKeyRecord | object | None:
        """The cached record, None for a digest known to match no live key, UNLISTED for one the
        live digests lack (unless its creation is still on its way here: ReplicaSync.caught_up),
        or MISSING."""
        if not self.enabled:
            return _MISSING
        found = self.api_keys.get(digest)
        if found is not _MISSING:
            return found
        if self.index_complete and self._digests_complete and digest not in self._live_digests:
            return UNLISTED  # no live key has this digest, as far as this replica has heard
        return self.unknown_keys.get(digest)

    # --- notifications and connection state -----------------------------------------------
    def invalidate(self, message: str) -> bool:
        """Applies one notification (adapters.invalidation_messages). Returns False for a message
        of another kind: then nothing here can be trusted any more (the index is marked
        incomplete, so validation asks the database) until the caller reloads it."""
        if self._heard_while_loading is not None:
            self._heard_while_loading.append(message)
        kind, ident, digest, _ = messages.parse(message)
        if kind == messages.WORKSPACE_PLAN:
            pass  # not this cache's (ReplicaSync tells the workspace plans)
        elif kind == messages.SESSION_REVOKED:
            self._revoked_sessions.add(ident)
        elif kind == messages.USER_DISABLED:
            self._key_revocations += 1
            self._disabled_users.add(ident)
            self.api_keys.clear()  # the user's keys: their records do not say whose they are
            self._digests_of.clear()
        elif kind == messages.KEY_CREATED:
            self._key_creations += 1
            self.unknown_keys.clear()  # a digest looked up before it existed must be asked again
            if digest is not None:
                self._live_digests.add(digest)
            else:  # announced by an older release: until the next full read, misses ask
                self._digests_complete = False
                return False
        elif kind == messages.KEY_REVOKED:
            self._key_revocations += 1
            for known in self._digests_of.pop(ident, ()):
                self.api_keys.pop(known)
        else:
            self._key_revocations += 1
            self._key_creations += 1
            self.index_complete = False
            self.api_keys.clear()
            self._digests_of.clear()
            return False
        return True

    # --- when PostgreSQL cannot answer: what was held, for a while ------------------------
    def stale_session_is_live(self, session_id: str, user_id: str) -> bool | None:
        """As `session_is_live` answered when listening stopped, within `stale_seconds` of it."""
        held = self._recent()
        if held is None:
            return None
        return session_id not in held[1] and user_id not in held[2]

    def stale_key(self, digest: bytes) -> ApiKeyRecord | None:
        """The record cached for `digest` when listening stopped, within `stale_seconds` of it."""
        held = self._recent()
        return None if held is None else held[3].get(digest)

    def _recent(
        self,
    ) -> tuple[float, frozenset[str], frozenset[str], dict[bytes, ApiKeyRecord]] | None:
        held = self._held
        if held is None or self._clock() - held[0] > self._stale_seconds:
            return None
        return held

    def set_listening(self, listening: bool) -> None:
        if not listening and self.enabled and self.index_complete:
            keys = dict(self.api_keys.records())
            self._held = (
                self._clock(),
                frozenset(self._revoked_sessions),
                frozenset(self._disabled_users),
                keys,
            )
        elif listening:
            self._held = None  # PostgreSQL answers again: exact answers only
        self.clear()
        self._listening_epoch += 1
        self.enabled = listening

    def clear(self) -> None:
        self._key_revocations += 1
        self._key_creations += 1
        self.index_complete = False
        self.api_keys.clear()
        self.unknown_keys.clear()
        self._digests_of.clear()
        self._revoked_sessions.clear()
        self._disabled_users.clear()
        self._live_digests.clear()
        self._digests_complete = False
