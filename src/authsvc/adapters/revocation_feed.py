"""One replica's revocations in commit order, for the watchers of WatchRevocations.

Fed by the replica's invalidation listener (numbered messages: adapters.revocation_log), it keeps
the latest `capacity` revocations, so a watcher resumes from its last sequence without a new
snapshot, on this replica or any other, as long as its place is still held. It is ready only
while the replica's revocation index is complete (listening, loaded): a replica that went deaf
ends its watches, so a watcher's staleness clock runs instead of it trusting a silent replica.

After a deaf spell the revocations missed are read from PostgreSQL before anything heard since,
so the order holds across it and watchers elsewhere can still resume here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable

from authsvc.adapters import invalidation_messages as messages
from authsvc.domain.revocations import Revocation, Revoked

_KINDS = {
    messages.SESSION_REVOKED: Revoked.SESSION,
    messages.USER_DISABLED: Revoked.USER,
    messages.KEY_REVOKED: Revoked.API_KEY,
}


def revocation(message: str) -> Revocation | None:
    """The numbered revocation a message carries, if it carries one."""
    kind, ident, _, sequence = messages.parse(message)
    found = _KINDS.get(kind)
    return None if found is None or sequence is None else Revocation(sequence, found, ident)


class RevocationFeed:
    def __init__(self, index_complete: Callable[[], bool], capacity: int = 10_000) -> None:
        self._index_complete = index_complete  # the validation cache's: listening, and loaded
        self.capacity = capacity
        self._log: deque[Revocation] = deque()
        self._since = 0  # the log holds every revocation numbered above this
        self.sequence = 0  # the highest number applied
        self._loaded = False
        self._pending: list[Revocation] | None = None  # heard while loading after a deaf spell
        self.version = 0  # moves on anything a watcher must look at
        self.restarts = 0  # times the log began again: places held before mean nothing after
        self._waiter: asyncio.Future[None] | None = None

    @property
    def ready(self) -> bool:
        return self._loaded and self._index_complete()

    # --- fed by ReplicaSync -------------------------------------------------------------------
    def heard(self, message: str) -> None:
        found = revocation(message)
        if found is None:
            return
        if self._loaded:
            self._append(found)
            self._wake()
        elif self._pending is not None:
            self._pending.append(found)
        # else deaf and not loading: the next load reads it from PostgreSQL

    def begin_load(self) -> None:
        """Before reading the index: while not loaded, what is heard waits for the load."""
        if not self._loaded:
            self._pending = []

    def finish_load(self, missed: list[str] | None, latest: int) -> None:
        """After reading the index: `missed`, the numbered messages after `self.sequence` read
        from PostgreSQL (None: they could not all be had, so the log starts again at `latest`)."""
        pending, self._pending = self._pending or [], None
        if not self._index_complete():
            return
        if missed is None:
            self._log.clear()
            self._since = self.sequence = latest
            self.restarts += 1  # a watcher's place may be gone: it must end
        for message in missed or ():
            found = revocation(message)
            if found is not None:
                self._append(found)
        for found in pending:
            self._append(found)
        self._loaded = True
        self._wake()

    def deaf(self) -> None:
        """The listener is down: watchers end, and nothing is appended until the next load."""
        self._loaded = False
        self.restarts += 1
        self._pending = None
        self._wake()

    def keys_changed(self) -> None:
        self._wake()

    # --- read by the watchers -----------------------------------------------------------------
    def can_resume(self, after: int) -> bool:
        return self.ready and self._since <= after <= self.sequence

    def after(self, position: int) -> list[Revocation]:
        """The revocations numbered above `position` (which can_resume accepted), in order."""
        newer: list[Revocation] = []
        for found in reversed(self._log):
            if found.sequence <= position:
                break
            newer.append(found)
        newer.reverse()
        return newer

    async def changed(self, version: int, seconds: float) -> None:
        """Returns once `version` is out of date, or after `seconds`."""
        if version != self.version:
            return
        if self._waiter is None or self._waiter.done():
            self._waiter = asyncio.get_running_loop().create_future()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await asyncio.shield(self._waiter)

    # --- inside -------------------------------------------------------------------------------
    def _append(self, found: Revocation) -> None:
        if found.sequence <= self.sequence:
            return  # already applied (read from PostgreSQL, then heard)
        self._log.append(found)
        self.sequence = found.sequence
        if len(self._log) > self.capacity:
            self._since = self._log.popleft().sequence

    def _wake(self) -> None:
        self.version += 1
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        self._waiter = None
