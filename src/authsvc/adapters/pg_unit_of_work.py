"""The unit of work on PostgreSQL: one pooled connection, one transaction, committed only when the
use case says so. Invalidation messages queued inside go out by NOTIFY in the same transaction
(PostgreSQL delivers them only if it commits) and, once it has, to this replica's own cache at once.
Where `expect` asks for it (a key creation), the commit returns once the replica's own listener
has heard the message, so the other replicas have heard it too (ReplicaSync.expect)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

from authsvc.adapters import revocation_log
from authsvc.adapters.database import Database
from authsvc.adapters.invalidation import notify
from authsvc.adapters.mail_outbox import MailSeal, PgOutboxStore
from authsvc.adapters.pg_api_keys import PgApiKeyStore
from authsvc.adapters.pg_invitations import PgInvitationStore
from authsvc.adapters.pg_members import PgMemberStore
from authsvc.adapters.pg_password_resets import PgPasswordResetStore
from authsvc.adapters.pg_rate_limiter import PgRateLimiter
from authsvc.adapters.pg_sessions import PgSessionStore
from authsvc.adapters.pg_users import PgUserStore

log = logging.getLogger(__name__)
ECHO_TIMEOUT_SECONDS = 1.0  # a commit waits no longer for its announcements to come back
Expect = Callable[[str], "asyncio.Future[None] | None"]


class PgUnitOfWork:
    sessions: PgSessionStore
    api_keys: PgApiKeyStore
    users: PgUserStore
    resets: PgPasswordResetStore
    outbox: PgOutboxStore
    members: PgMemberStore
    invitations: PgInvitationStore
    limiter: PgRateLimiter

    def __init__(
        self,
        db: Database,
        on_commit: Callable[[str], object] | None = None,
        expect: Expect | None = None,
        seal: MailSeal | None = None,
    ) -> None:
        self._db = db
        self._seal = seal
        self._on_commit = on_commit
        self._expect = expect
        self._stack: contextlib.AsyncExitStack | None = None
        self._transaction: Any = None
        self._announced: list[str] = []

    async def __aenter__(self) -> Self:
        async with contextlib.AsyncExitStack() as stack:
            conn = await stack.enter_async_context(self._db.connection())
            self._transaction = conn.transaction()
            await self._transaction.start()
            self._conn = conn
            self.sessions = PgSessionStore(conn, self._announced.append)
            self.api_keys = PgApiKeyStore(conn, self._announced.append)
            self.users = PgUserStore(conn, self._announced.append)
            self.resets = PgPasswordResetStore(conn)
            self.outbox = PgOutboxStore(conn, self._seal)
            self.members = PgMemberStore(conn, self._announced.append)
            self.invitations = PgInvitationStore(conn)
            self.limiter = PgRateLimiter(conn)
            self._stack = stack.pop_all()
        return self

    async def commit(self) -> None:
        # Revocations are numbered here, just before the commit, so the lock that orders the
        # numbers is held for as short a time as possible.
        for payload in await revocation_log.numbered(self._conn, self._announced):
            await notify(self._conn, payload)
        echoes = [self._expect(message) for message in self._announced] if self._expect else []
        awaited = [echo for echo in echoes if echo is not None]
        try:
            await self._transaction.commit()
        except BaseException:
            for echo in awaited:
                echo.cancel()
            raise
        self._transaction = None
        if self._on_commit is not None:
            for message in self._announced:
                self._on_commit(message)
        if awaited:
            try:
                _, late = await asyncio.wait(awaited, timeout=ECHO_TIMEOUT_SECONDS)
            finally:  # also when the caller is cancelled: no future outlives its wait
                for echo in awaited:
                    echo.cancel()
            if late:
                log.warning("%d announcement(s) not heard back within %g s", len(late), ECHO_TIMEOUT_SECONDS)

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        assert self._stack is not None
        stack, self._stack = self._stack, None
        try:
            # Not committed: roll back (the pool's reset would too, but the connection goes back clean).
            if self._transaction is not None and not self._conn.is_closed():
                with contextlib.suppress(Exception):
                    await self._transaction.rollback()
        finally:  # even if cancelled meanwhile: the connection always goes back to the pool
            await stack.__aexit__(kind, error, trace)  # and driver errors become UNAVAILABLE
