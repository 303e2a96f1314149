"""The ports the use cases need: implemented by adapters in production and by fakes in unit tests."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import NamedTuple, Protocol, Self

from authsvc.domain.audit import AuditEvent
from authsvc.domain.mail import Mail
from authsvc.domain.pages import Cursor
from authsvc.domain.permissions import Role
from authsvc.domain.plans import Budget, BudgetState, Limits
from authsvc.domain.rate_limits import RateDecision, RateLimit
from authsvc.domain.refresh_rules import RefreshState
from authsvc.domain.revocations import Revocation, VerificationKey


class Clock(Protocol):
    def now(self) -> datetime: ...

    def timestamp(self) -> float:
        """now(), in epoch seconds: for the hot paths that only count."""
        ...


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, password: str, hashed: str | None) -> bool:
        """False for a mismatch; with `hashed=None` still spends one full hash of work."""
        ...


@dataclass(frozen=True, slots=True)
class Membership:
    """A user's role in one workspace."""

    workspace_id: str
    role: Role
    access_token_ttl: int | None  # the workspace's setting, None for the service default


@dataclass(frozen=True, slots=True)
class WorkspaceMembership:
    """One of a user's workspaces, as the user sees it listed."""

    workspace_id: str
    name: str
    role: Role
    joined_at: datetime


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: str
    email: str
    password_hash: str
    disabled: bool
    # The membership asked for (by workspace id), else the last one used, else the oldest; None
    # when the user is no member of it (or of any).
    membership: Membership | None
    workspaces: int = 1  # how many workspaces the user is a member of

    @property
    def workspace_id(self) -> str | None:
        return self.membership.workspace_id if self.membership else None


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
class ClientDetails:
    """Who a login or refresh came from, as a session list shows it: None when not known."""

    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A session as its user sees it listed."""

    id: str
    workspace_id: str
    created_at: datetime
    last_refreshed_at: datetime | None
    expires_at: datetime  # its absolute end
    client: ClientDetails  # of its last login or refresh


@dataclass(frozen=True, slots=True)
class RefreshingSession:
    """A session as a refresh finds it, locked until the unit of work ends."""

    id: str
    user_id: str
    workspace_id: str
    role: Role
    workspace_ttl: int | None  # the workspace's access-token lifetime, None for the default
    expires_at: datetime  # its absolute end
    current_jti: str | None  # its live refresh token
    state: RefreshState  # of the presented token, for refresh_rules.decide


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
    created_by_key_id: str | None = None  # the key it was created with, if a key created it
    expires_at: datetime | None = None  # when it stops validating; None: never
    metadata: str = "{}"  # a JSON object as text (domain.api_key_metadata)
    limits: Limits | None = None  # its own request limits, below its workspace's plan
    # When the secret presented stops validating, if it is the one a rotation replaced (its overlap).
    secret_ends_at: datetime | None = None


class KeyState(enum.Enum):
    ACTIVE = "active"  # neither revoked nor expired
    REVOKED = "revoked"
    EXPIRED = "expired"  # past its expires_at, not revoked


@dataclass(frozen=True, slots=True)
class KeyFilter:
    """Which keys a list shows: None lets every value through. `now` decides what has expired."""

    now: datetime
    environment: str | None = None
    state: KeyState | None = None


class Spent(NamedTuple):
    """A charge's outcome: admitted or not, each budget's state, and the wait when refused."""

    allowed: bool
    states: tuple[BudgetState, ...]
    retry_after: int = 0


class MeterTicket(Protocol):
    """One principal's budgets as a meter holds them (Meter.ticket): what each charge touches.
    A charge takes `cost` from every budget's count for its current window, or from none when
    any lacks it; `moment` is the time of the charge in epoch seconds."""

    @property
    def budgets(self) -> Sequence[Budget]: ...

    def take(self, cost: int, moment: float) -> Spent | None:
        """The charge, decided from memory alone; None when the meter must draw first."""
        ...

    async def spend(self, cost: int, moment: float) -> Spent:
        """The charge, drawing what it needs first (a round trip about once per lease)."""
        ...


class Meter(Protocol):
    def ticket(self, budgets: Sequence[Budget]) -> MeterTicket:
        """What charges to `budgets` go through (domain.plans for the budgets)."""
        ...


class WorkspacePlans(Protocol):
    async def plan_of(self, workspace_id: str) -> str | None:
        """The name of the workspace's plan, None for the default (from memory once known)."""
        ...


class UserRepository(Protocol):
    async def by_email(self, email: str, workspace_id: str | None = None) -> UserRecord | None:
        """The user with this (normal form) email, with their membership of `workspace_id` if
        given, else of the workspace they last used."""
        ...

    async def by_id(self, user_id: str, workspace_id: str | None = None) -> UserRecord | None: ...

    async def workspaces_of(self, user_id: str) -> list[WorkspaceMembership]:
        """The user's workspaces, oldest membership first."""
        ...

    async def count(self) -> int: ...


class UserStore(Protocol):
    """Users and workspaces inside a unit of work: reads and writes, no rules."""

    async def workspace_named(self, name: str) -> Workspace:
        """The workspace of this name, made if new."""
        ...

    async def create(self, workspace: Workspace, email: str, password_hash: str, role: Role) -> UserRecord:
        """ALREADY_EXISTS for a taken email."""
        ...

    async def set_password_hash(self, user_id: str, password_hash: str) -> bool:
        """False when there is no such enabled user."""
        ...

    async def workspace(self, workspace_id: str) -> Workspace:
        """The workspace with this id (it exists: a caller or an invitation names it)."""
        ...

    async def add_membership(self, user_id: str, workspace_id: str, role: Role) -> bool:
        """Makes the user a member of the workspace; False if they are one already."""
        ...

    async def disable(self, email: str | None = None, user_id: str | None = None) -> str | None:
        """Disables the user with this (normal form) email, or else this id: logins, sessions and
        API keys stop working, on every replica when the unit of work commits. Its id, None if
        unknown or disabled already."""
        ...


@dataclass(frozen=True, slots=True)
class ResetTokenRecord:
    """A password reset token as found by its digest, and its user."""

    user_id: str
    email: str
    workspace_id: str | None  # the user's home workspace, for the audit trail
    expires_at: datetime
    used: bool
    user_disabled: bool
    by_admin: bool = False  # issued by a workspace admin, not mailed on request
    issued_in: str | None = None  # the workspace it was issued in, by an admin of this release


class PasswordResetRepository(Protocol):
    async def find(self, digest: bytes) -> ResetTokenRecord | None: ...


class PasswordResetStore(Protocol):
    """Password reset tokens inside a unit of work."""

    async def issue(
        self,
        digest: bytes,
        user_id: str,
        issued_by: str | None,
        now: datetime,
        expires_at: datetime,
        retire: bool,
        workspace_id: str | None = None,
    ) -> None:
        """Stores a token (its digest), issued by an admin of `workspace_id` if given; with `retire`,
        the user's earlier unused ones stop working."""
        ...

    async def retire_all(self, user_id: str, now: datetime) -> None:
        """Every unused token of the user stops working."""
        ...

    async def claim(self, digest: bytes, now: datetime) -> str | None:
        """Marks the token used if it is unused and unexpired at `now`; its user's id, else None.
        Of two claims of one token, one wins."""
        ...


@dataclass(frozen=True, slots=True)
class InvitationRecord:
    id: str
    workspace_id: str
    email: str  # in normal form
    role: Role
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None = None
    retired_at: datetime | None = None  # withdrawn, or replaced by a newer invitation

    def open_at(self, now: datetime) -> bool:
        return self.accepted_at is None and self.retired_at is None and self.expires_at > now


class InvitationRepository(Protocol):
    async def find(self, digest: bytes) -> InvitationRecord | None: ...

    async def open_in(
        self, workspace_id: str, now: datetime, after: Cursor | None, limit: int
    ) -> list[InvitationRecord]:
        """The workspace's open invitations at `now`, oldest first, after `after`."""
        ...


class InvitationStore(Protocol):
    """Invitations inside a unit of work."""

    async def add(
        self,
        digest: bytes,
        workspace_id: str,
        email: str,
        role: Role,
        invited_by: str | None,
        now: datetime,
        expires_at: datetime,
    ) -> InvitationRecord:
        """Stores an invitation (its token's digest); the address's earlier open invitations to
        the workspace are retired."""
        ...

    async def claim(self, digest: bytes, now: datetime) -> bool:
        """Marks the invitation accepted if it is open at `now`; of two claims, one wins."""
        ...

    async def accepted_by(self, digest: bytes, user_id: str) -> None: ...

    async def retire_made_by(self, user_id: str, workspace_id: str, now: datetime) -> int:
        """Retires the open invitations the user made in the workspace; how many."""
        ...

    async def withdraw(self, workspace_id: str, invitation_id: str, now: datetime) -> bool:
        """Retires the workspace's open invitation; False for any other id."""
        ...


@dataclass(frozen=True, slots=True)
class MemberRecord:
    user_id: str
    email: str
    role: Role
    disabled: bool
    joined_at: datetime
    last_login_at: datetime | None


class MemberRepository(Protocol):
    async def of_workspace(self, workspace_id: str, after: Cursor | None, limit: int) -> list[MemberRecord]:
        """The workspace's members, oldest first, after `after`."""
        ...


class MemberStore(Protocol):
    """Members inside a unit of work."""

    async def lock_admins(self, workspace_id: str) -> set[str]:
        """The ids of the workspace's enabled admins, locked until the unit of work ends: two
        changes that could each leave it without an admin run one after the other."""
        ...

    async def hold(self, user_id: str, workspace_id: str) -> Membership | None:
        """The user's membership of the workspace, kept from changing until the unit of work ends;
        None if they are no member of it."""
        ...

    async def hold_all(self, user_id: str) -> set[str]:
        """The ids of the user's workspaces, their memberships kept from changing until the unit
        of work ends."""
        ...

    async def get(self, workspace_id: str, user_id: str) -> MemberRecord | None:
        """The member of this workspace with this id, None for anyone else."""
        ...

    async def set_role(self, user_id: str, workspace_id: str, role: Role) -> None: ...

    async def narrow_keys_of(self, user_id: str, workspace_id: str, allowed: frozenset[str]) -> list[str]:
        """Takes from the live keys the user created in the workspace every permission not in
        `allowed` (each replica hears of it at commit); the ids of those keys."""
        ...

    async def remove(self, user_id: str, workspace_id: str, now: datetime) -> None:
        """Ends the user's membership of the workspace and revokes the keys they created in it
        (each replica hears of it at commit)."""
        ...


class OutboxStore(Protocol):
    """Mail inside a unit of work: queued exactly when the unit of work commits."""

    async def add(self, mail: Mail, now: datetime, not_after: datetime) -> None:
        """Queues `mail`, to be sent (and retried) until `not_after` at the latest."""
        ...


class WorkspaceRepository(Protocol):
    async def get(self, workspace_id: str) -> Workspace | None: ...

    async def set_access_token_ttl(self, workspace_id: str, ttl: int) -> Workspace | None: ...


class SessionRepository(Protocol):
    async def is_live(self, session_id: str, user_id: str) -> bool:
        """False once the session is revoked or its user disabled. (Its absolute end needs no
        check: no access token outlives its session.)"""
        ...

    async def of_user(
        self, user_id: str, now: datetime, after: Cursor | None, limit: int
    ) -> list[SessionInfo]:
        """The user's sessions that still let a token through at `now` (not revoked, with a
        refresh or access token not yet expired), oldest first, after `after`."""
        ...


class SessionStore(Protocol):
    """Sessions inside a unit of work: reads and writes, no rules."""

    async def start(
        self,
        user_id: str,
        workspace_id: str,
        session_expires_at: datetime,
        token: RefreshTokenRecord,
        access_expires_at: datetime,
        client: ClientDetails | None = None,
    ) -> str:
        """Creates a session in the workspace whose live refresh token is `token` (the workspace
        becomes the user's last used); returns the session id."""
        ...

    async def for_refresh(self, jti: str) -> RefreshingSession | None:
        """The session of refresh token `jti`, locked, so refreshes of one session run one after
        the other and each sees what the one before committed; None for an unknown token."""
        ...

    async def rotate(
        self,
        session: RefreshingSession,
        jti: str,
        now: datetime,
        successor: RefreshTokenRecord,
        access_expires_at: datetime,
        client: ClientDetails | None = None,
    ) -> RefreshTokenRecord:
        """Retires `jti` and stores `successor` (its expiry capped at the session's end) as the
        session's live token, and extends the session's access expiry as `extend_access` does;
        notes the refresh's time and `client`; returns the token as stored."""
        ...

    async def live_token(self, session: RefreshingSession, now: datetime) -> RefreshTokenRecord | None:
        """The session's live refresh token, unless it has expired."""
        ...

    async def extend_access(self, session_id: str, access_expires_at: datetime) -> None:
        """Records that an access token of the session may live until `access_expires_at`: a
        revocation of the session is remembered that long."""
        ...

    async def revoke(self, session_id: str, now: datetime, reason: str) -> None:
        """Revokes the session and announces it to every replica when the unit of work commits."""
        ...

    async def revoke_of_user(self, session_id: str, user_id: str, now: datetime, reason: str) -> bool:
        """Revokes the session if it is the user's (and announces it as `revoke` does); False when
        the user has no session of that id. A session already ended is left as it is (True)."""
        ...

    async def revoke_all_of_user(
        self, user_id: str, now: datetime, reason: str, keep: str | None, workspace_id: str | None = None
    ) -> int:
        """Revokes every live session of the user but `keep` (only those in `workspace_id`, when
        given), announcing each; how many."""
        ...


class ApiKeyRepository(Protocol):
    async def by_digest(self, digest: bytes) -> ApiKeyRecord | None:
        """The key with this hash, unless it is revoked or its creator is disabled."""
        ...

    def known(self, digest: bytes) -> tuple[bool, ApiKeyRecord | None]:
        """`by_digest` from memory alone: (True, its answer) when memory can tell, else
        (False, None). ValidateToken's hot path needs no await when it can."""
        ...

    async def in_workspace(self, workspace_id: str, key_id: str) -> ApiKeyRecord | None:
        """The key, revoked or not, if the workspace has it."""
        ...

    async def list(
        self, workspace_id: str, after: Cursor | None, limit: int, only: KeyFilter
    ) -> Sequence[ApiKeyRecord]:
        """The workspace's keys after `after` that `only` lets through, oldest first (creation
        time, then id), at most `limit`."""
        ...


class ApiKeyStore(Protocol):
    """API keys inside a unit of work: reads and writes, no rules."""

    async def create(self, record: ApiKeyRecord, digest: bytes) -> None:
        """Stores the key; every replica hears of it (and its digest) when the unit of work commits."""
        ...

    async def hold_live(self, key_id: str) -> bool:
        """Whether the key is live, holding it so (no revocation commits) until the unit of work ends."""
        ...

    async def for_change(self, workspace_id: str, key_id: str) -> ApiKeyRecord | None:
        """The key, locked until the unit of work ends, if the workspace has it."""
        ...

    async def revoke(self, key_ids: Sequence[str], now: datetime) -> list[str]:
        """Revokes the keys that are live; returns their ids."""
        ...

    async def update(self, record: ApiKeyRecord) -> None:
        """Writes the key's name, permissions, metadata and expiry as `record` has them; every
        replica forgets what it cached of the key when the unit of work commits."""
        ...

    async def rotate(self, key_id: str, digest: bytes, prefix: str, previous_ends_at: datetime) -> None:
        """Gives the key a new secret; the current one validates until `previous_ends_at`, and any
        older one no longer. Every replica forgets what it cached of the key when the unit of work
        commits, and hears the new digest."""
        ...

    async def revoke_created_with(self, key_ids: Sequence[str], now: datetime) -> list[str]:
        """Revokes the live keys created with any of `key_ids`; returns their ids."""
        ...

    async def narrow_created_with(self, key_ids: Sequence[str], allowed: frozenset[str]) -> list[str]:
        """Takes from the live keys created with any of `key_ids` every permission not in
        `allowed`; returns the ids of all those keys (changed or not)."""
        ...


class UnitOfWork(Protocol):
    """One transaction, decided by a use case: `async with` it, call `commit()` when the decision
    is made; leaving without a commit (or with an error) rolls everything back, rate-limit hits
    included. Announcements to other replicas go out only on commit."""

    @property
    def sessions(self) -> SessionStore: ...

    @property
    def api_keys(self) -> ApiKeyStore: ...

    @property
    def users(self) -> UserStore: ...

    @property
    def resets(self) -> PasswordResetStore: ...

    @property
    def outbox(self) -> OutboxStore: ...

    @property
    def members(self) -> MemberStore: ...

    @property
    def invitations(self) -> InvitationStore: ...

    @property
    def limiter(self) -> RateLimiter: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None: ...

    async def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


@dataclass(frozen=True, slots=True)
class KeyUsage:
    days: Sequence[tuple[datetime, int]]  # (the day's start, UTC; requests)
    minutes: Sequence[tuple[datetime, int]]


class UsageRecorder(Protocol):
    def mark_used(self, key_id: str, at: datetime) -> None:
        """Remembers a key's use; written to the database in batches, never per validation."""
        ...

    def count_requests(self, key_id: str, moment: float, requests: int) -> None:
        """Adds charged requests to the key's usage for the minute and day of `moment` (epoch
        seconds), written in batches."""
        ...

    async def flush(self) -> None: ...

    async def usage(self, key_id: str, now: datetime) -> KeyUsage:
        """The key's charged requests per UTC day (the last 30) and per minute (the last 60),
        oldest first, zeros included."""
        ...


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


class LoginNetworks(Protocol):
    """The client networks from which each account (a normalised email) logged in."""

    async def last_success(self, account: str, network: str, since: datetime) -> datetime | None:
        """When `account` last logged in from `network`, if at or after `since`."""
        ...

    async def remember(self, account: str, network: str, at: datetime) -> None: ...


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """An audit event as the trail holds it."""

    id: int
    type: str  # domain.audit.type_name of its kind
    at: datetime
    actor_id: str | None  # the user who acted (or whose credentials were tried)
    subject_id: str | None  # the session, API key or user acted on
    client_ip: str | None
    detail: str | None


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which events a list shows: None lets every value through."""

    type: str | None = None
    actor_id: str | None = None
    since: datetime | None = None


class AuditTrail(Protocol):
    async def of_workspace(
        self, workspace_id: str, only: AuditFilter, before: tuple[datetime, int] | None, limit: int
    ) -> list[AuditRecord]:
        """The workspace's events, newest first, older than `before` (time, id) if given."""
        ...


class AuditLog(Protocol):
    def record(self, event: AuditEvent) -> None:
        """Records a security event; never blocks on storage."""
        ...


class RevocationFeed(Protocol):
    """One replica's revocations in commit order (adapters.revocation_feed)."""

    sequence: int  # the highest number applied
    version: int  # moves whenever a watcher must look again
    restarts: int  # moves when places held before mean nothing any more

    @property
    def ready(self) -> bool: ...

    def can_resume(self, after: int) -> bool: ...

    def after(self, position: int) -> list[Revocation]: ...

    async def changed(self, version: int, seconds: float) -> None: ...


class RevocationIndex(Protocol):
    def revocation_index(self) -> tuple[frozenset[str], frozenset[str]]: ...


class VerificationKeys(Protocol):
    def verification_keys(self, now: int) -> tuple[VerificationKey, ...]: ...
