"""The ports the use cases need: implemented by adapters in production and by fakes in unit tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from authsvc.domain.audit import AuditEvent
from authsvc.domain.permissions import Role
from authsvc.domain.rate_limits import RateDecision, RateLimit
from authsvc.domain.refresh_rules import RefreshDecision


class Clock(Protocol):
    def now(self) -> datetime: ...


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, password: str, hashed: str | None) -> bool:
        """False for a mismatch; with `hashed=None` still spends one full hash of work."""
        ...


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    workspace_id: str
    email: str
    password_hash: str
    role: Role
    disabled: bool
    access_token_ttl: int | None  # the workspace's setting, None for the service default


@dataclass(frozen=True, slots=True)
class Workspace:
    id: str
    name: str
    access_token_ttl: int | None


@dataclass(frozen=True, slots=True)
class RefreshTokenRecord:
    jti: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    decision: RefreshDecision
    user_id: str = ""
    workspace_id: str = ""
    session_id: str = ""
    role: Role = Role.VIEWER
    token: RefreshTokenRecord | None = None  # the live token to hand out (ROTATE, REPLAY)
    access_expires_at: datetime | None = None  # of the access token to mint with it


AccessExpiry = Callable[[int | None, datetime], datetime]
"""(workspace TTL or None, session end) → when an access token minted now expires."""


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    id: str
    workspace_id: str
    created_by: str
    name: str
    prefix: str
    permissions: frozenset[str]
    environment: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class UserRepository(Protocol):
    async def by_email(self, email: str) -> UserRecord | None: ...

    async def create(self, workspace_id: str, email: str, password_hash: str, role: Role) -> UserRecord: ...

    async def count(self) -> int: ...

    async def disable(self, email: str) -> str | None:
        """Disables the user: logins, sessions and API keys stop working. Its id, None if unknown."""
        ...


class WorkspaceRepository(Protocol):
    async def get_or_create(self, name: str) -> Workspace: ...

    async def get(self, workspace_id: str) -> Workspace | None: ...

    async def set_access_token_ttl(self, workspace_id: str, ttl: int) -> Workspace | None: ...


class SessionRepository(Protocol):
    async def start(
        self,
        user_id: str,
        session_expires_at: datetime,
        token: RefreshTokenRecord,
        access_expires_at: datetime,
    ) -> str:
        """Creates a session whose live refresh token is `token`; returns the session id."""
        ...

    async def refresh(
        self,
        jti: str,
        now: datetime,
        grace: timedelta,
        next_token: RefreshTokenRecord,
        access_expiry: AccessExpiry,
    ) -> RefreshOutcome:
        """Applies `refresh_rules.decide` in one transaction that serialises refreshes of a session.

        `next_token` is stored (expiry capped at the session's end) when the decision is ROTATE;
        a REUSE decision commits the session's revocation before returning. The session records
        how long its access tokens live, so revocations are only remembered that long.
        """
        ...

    async def is_live(self, session_id: str, user_id: str) -> bool:
        """False once the session is revoked or its user disabled. (Its absolute end needs no
        check: no access token outlives its session.)"""
        ...

    async def revoke(self, session_id: str, now: datetime, reason: str) -> None: ...


class ApiKeyRepository(Protocol):
    async def create(self, record: ApiKeyRecord, digest: bytes) -> None: ...

    async def by_digest(self, digest: bytes) -> ApiKeyRecord | None:
        """The key with this hash, unless it is revoked or its creator is disabled."""
        ...

    async def list(self, workspace_id: str) -> Sequence[ApiKeyRecord]: ...

    async def revoke(self, workspace_id: str, key_id: str, now: datetime) -> ApiKeyRecord | None: ...


class UsageRecorder(Protocol):
    def mark_used(self, key_id: str, at: datetime) -> None:
        """Remembers a key's use; written to the database in batches, never per validation."""
        ...

    async def flush(self) -> None: ...


class TokenCodec(Protocol):
    def encode(self, payload: dict[str, object], typ: str) -> str: ...

    def decode(
        self, token: str, typ: str, required: Sequence[str], now: int
    ) -> tuple[dict[str, object], int | None]:
        """The verified payload, and when its signing key retires (None: not scheduled);
        raises AuthError(TOKEN_INVALID / TOKEN_EXPIRED) otherwise."""
        ...


class RateLimiter(Protocol):
    async def hit(self, name: str, limit: RateLimit) -> RateDecision:
        """Counts one request against `name`; atomic across replicas."""
        ...

    async def refund(self, name: str, limit: RateLimit) -> None: ...


class AuditLog(Protocol):
    def record(self, event: AuditEvent) -> None:
        """Records a security event; never blocks on storage."""
        ...
