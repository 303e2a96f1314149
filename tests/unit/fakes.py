"""In-memory fakes of the service layer's ports, so a rule can be tested in milliseconds.

One `World` holds the state the PostgreSQL adapters would; its unit of work works on a copy and
installs it only on commit, so a rollback leaves nothing behind, as the real one. Locks and
replicas are not modelled: what depends on them is tested against PostgreSQL (tests/integration,
tests/security). Everything here implements a Protocol of authsvc.service.ports.
"""

from __future__ import annotations

import base64
import copy
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from authsvc.adapters.common_passwords import common_passwords
from authsvc.domain.audit import AuditEvent, type_name
from authsvc.domain.errors import AuthError, ErrorCode
from authsvc.domain.pages import Cursor
from authsvc.domain.password_policy import PasswordPolicy
from authsvc.domain.permissions import Role
from authsvc.domain.rate_limits import RateDecision, RateLimit, retry_after_seconds
from authsvc.domain.refresh_rules import RefreshState
from authsvc.domain.revocations import TokenRules, VerificationKey
from authsvc.domain.tokens import check_times
from authsvc.service.account import AccountService
from authsvc.service.api_keys import ApiKeyService
from authsvc.service.audit_trail import AuditTrailService
from authsvc.service.authenticate import Authenticator
from authsvc.service.container import Services
from authsvc.service.invitations import Invitations
from authsvc.service.limits import Limits
from authsvc.service.login_limits import LoginLimits
from authsvc.service.members import MembersService
from authsvc.service.oauth_tokens import OAuthTokens
from authsvc.service.password_resets import PasswordResets
from authsvc.service.policy import Policy
from authsvc.service.ports import (
    ApiKeyRecord,
    AuditFilter,
    AuditRecord,
    ClientDetails,
    InvitationRecord,
    KeyFilter,
    KeyState,
    MemberRecord,
    Membership,
    RefreshingSession,
    RefreshTokenRecord,
    ResetTokenRecord,
    SessionInfo,
    UserRecord,
    Workspace,
    WorkspaceMembership,
)
from authsvc.service.public_keys import PublicKeys
from authsvc.service.revocation_watch import RevocationWatch
from authsvc.service.sessions import SessionService
from authsvc.service.tokens import TokenIssuer
from authsvc.service.users import UserService
from authsvc.service.verified_tokens import VerifiedTokens
from authsvc.service.workspace_settings import WorkspaceSettingsService
from tests.support.clock import FakeClock


@dataclass
class _Session:
    user_id: str
    workspace_id: str
    expires_at: datetime
    current_jti: str
    access_expires_at: datetime
    revoked_at: datetime | None = None
    created_at: datetime | None = None
    client: ClientDetails = field(default_factory=ClientDetails)
    last_refreshed_at: datetime | None = None


@dataclass
class _Token:
    session_id: str
    record: RefreshTokenRecord
    retired_at: datetime | None = None


@dataclass
class State:
    """What the database would hold."""

    workspaces: dict[str, Workspace] = field(default_factory=dict)
    users: dict[str, UserRecord] = field(default_factory=dict)
    memberships: dict[tuple[str, str], Role] = field(default_factory=dict)  # (user, workspace): role
    last_used: dict[str, str] = field(default_factory=dict)  # user: workspace
    sessions: dict[str, _Session] = field(default_factory=dict)
    tokens: dict[str, _Token] = field(default_factory=dict)
    keys: dict[str, tuple[ApiKeyRecord, bytes]] = field(default_factory=dict)
    tats: dict[str, datetime] = field(default_factory=dict)  # GCRA state by bucket name
    networks: dict[tuple[str, str], datetime] = field(default_factory=dict)
    resets: dict[bytes, list[Any]] = field(default_factory=dict)  # digest: [user id, expires at, used]


class FakeResetStore:
    def __init__(self, state: State) -> None:
        self._state = state

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
        if retire:
            await self.retire_all(user_id, now)
        self._state.resets[digest] = [user_id, expires_at, False]

    async def retire_all(self, user_id: str, now: datetime) -> None:
        for reset in self._state.resets.values():
            if reset[0] == user_id:
                reset[2] = True

    async def claim(self, digest: bytes, now: datetime) -> str | None:
        reset = self._state.resets.get(digest)
        if reset is None or reset[2] or reset[1] <= now:
            return None
        reset[2] = True
        return str(reset[0])


class FakeLimiter:
    """GCRA, as PgRateLimiter computes it, on the fake clock."""

    def __init__(self, state: State, clock: FakeClock) -> None:
        self._state, self._clock = state, clock

    async def hit(self, name: str, limit: RateLimit) -> RateDecision:
        now = self._clock.now()
        start = max(self._state.tats.get(name, now), now)
        if start - now > limit.tolerance:
            return RateDecision(False, retry_after_seconds(start - now, limit))
        self._state.tats[name] = start + limit.emission_interval
        return RateDecision(True, 0)

    async def refund(self, name: str, limit: RateLimit) -> None:
        if name in self._state.tats:
            self._state.tats[name] -= limit.emission_interval


class FakeSessionStore:
    def __init__(self, state: State, announced: list[str]) -> None:
        self._state, self._announced = state, announced

    async def start(
        self,
        user_id: str,
        workspace_id: str,
        session_expires_at: datetime,
        token: RefreshTokenRecord,
        access_expires_at: datetime,
        client: ClientDetails | None = None,
    ) -> str:
        session_id = str(uuid.uuid4())
        self._state.last_used[user_id] = workspace_id
        self._state.sessions[session_id] = _Session(
            user_id,
            workspace_id,
            session_expires_at,
            token.jti,
            access_expires_at,
            None,
            token.issued_at,
            client or ClientDetails(),
        )
        capped = replace(token, expires_at=min(token.expires_at, session_expires_at))
        self._state.tokens[token.jti] = _Token(session_id, capped)
        return session_id

    async def for_refresh(self, jti: str) -> RefreshingSession | None:
        token = self._state.tokens.get(jti)
        if token is None:
            return None
        session = self._state.sessions[token.session_id]
        user = self._state.users[session.user_id]
        role = self._state.memberships.get((user.id, session.workspace_id))
        return RefreshingSession(
            id=token.session_id,
            user_id=user.id,
            workspace_id=session.workspace_id,
            role=role or Role.VIEWER,
            workspace_ttl=self._state.workspaces[session.workspace_id].access_token_ttl,
            expires_at=session.expires_at,
            current_jti=session.current_jti,
            state=RefreshState(
                token_retired_at=token.retired_at,
                token_expires_at=token.record.expires_at,
                session_revoked=session.revoked_at is not None,
                session_expires_at=session.expires_at,
                user_disabled=user.disabled or role is None,
            ),
        )

    async def rotate(
        self,
        session: RefreshingSession,
        jti: str,
        now: datetime,
        successor: RefreshTokenRecord,
        access_expires_at: datetime,
        client: ClientDetails | None = None,
    ) -> RefreshTokenRecord:
        live = replace(successor, expires_at=min(successor.expires_at, session.expires_at))
        self._state.tokens[jti].retired_at = now
        self._state.tokens[live.jti] = _Token(session.id, live)
        stored = self._state.sessions[session.id]
        stored.current_jti = live.jti
        stored.access_expires_at = max(stored.access_expires_at, access_expires_at)
        stored.last_refreshed_at, stored.client = now, client or stored.client
        return live

    async def live_token(self, session: RefreshingSession, now: datetime) -> RefreshTokenRecord | None:
        token = self._state.tokens.get(session.current_jti or "")
        return token.record if token is not None and token.record.expires_at > now else None

    async def extend_access(self, session_id: str, access_expires_at: datetime) -> None:
        stored = self._state.sessions[session_id]
        stored.access_expires_at = max(stored.access_expires_at, access_expires_at)

    async def revoke(self, session_id: str, now: datetime, reason: str) -> None:
        session = self._state.sessions.get(session_id)
        if session is not None and session.revoked_at is None:
            session.revoked_at = now
            self._announced.append(f"session:{session_id}")

    async def revoke_of_user(self, session_id: str, user_id: str, now: datetime, reason: str) -> bool:
        session = self._state.sessions.get(session_id)
        if session is None or session.user_id != user_id:
            return False
        await self.revoke(session_id, now, reason)
        return True

    async def revoke_all_of_user(
        self, user_id: str, now: datetime, reason: str, keep: str | None, workspace_id: str | None = None
    ) -> int:
        ended = [
            sid for sid, s in self._state.sessions.items()
            if s.user_id == user_id and s.revoked_at is None and s.expires_at > now and sid != keep
            and workspace_id in (None, s.workspace_id)
        ]  # fmt: skip
        for sid in ended:
            await self.revoke(sid, now, reason)
        return len(ended)


class FakeApiKeyStore:
    def __init__(self, state: State, announced: list[str]) -> None:
        self._state, self._announced = state, announced

    async def create(self, record: ApiKeyRecord, digest: bytes) -> None:
        self._state.keys[record.id] = (record, digest)
        self._announced.append(f"api_key_created:{record.id}:{digest.hex()}")

    async def hold_live(self, key_id: str) -> bool:
        found = self._state.keys.get(key_id)
        return found is not None and found[0].revoked_at is None

    async def for_change(self, workspace_id: str, key_id: str) -> ApiKeyRecord | None:
        found = self._state.keys.get(key_id)
        return found[0] if found is not None and found[0].workspace_id == workspace_id else None

    async def revoke(self, key_ids: Sequence[str], now: datetime) -> list[str]:
        return self._revoke([k for k in key_ids if k in self._state.keys], now)

    async def rotate(self, key_id: str, digest: bytes, prefix: str, previous_ends_at: datetime) -> None:
        record, _ = self._state.keys[key_id]
        self._state.keys[key_id] = (replace(record, prefix=prefix), digest)
        self._announced += [f"api_key_created:{key_id}:{digest.hex()}", f"api_key:{key_id}"]

    async def narrow_created_with(self, key_ids: Sequence[str], allowed: frozenset[str]) -> list[str]:
        children = [k for k, (r, _) in self._state.keys.items() if r.created_by_key_id in set(key_ids)]
        for key_id in children:
            record, digest = self._state.keys[key_id]
            self._state.keys[key_id] = (replace(record, permissions=record.permissions & allowed), digest)
            self._announced.append(f"api_key:{key_id}")
        return children

    async def revoke_created_with(self, key_ids: Sequence[str], now: datetime) -> list[str]:
        children = [k for k, (r, _) in self._state.keys.items() if r.created_by_key_id in set(key_ids)]
        return self._revoke(children, now)

    def _revoke(self, key_ids: list[str], now: datetime) -> list[str]:
        revoked = []
        for key_id in key_ids:
            record, digest = self._state.keys[key_id]
            if record.revoked_at is None:
                self._state.keys[key_id] = (replace(record, revoked_at=now), digest)
                self._announced.append(f"api_key:{key_id}")
                revoked.append(key_id)
        return revoked


class FakeUserStore:
    def __init__(self, state: State, announced: list[str]) -> None:
        self._state, self._announced = state, announced

    async def workspace_named(self, name: str) -> Workspace:
        for workspace in self._state.workspaces.values():
            if workspace.name == name:
                return workspace
        workspace = Workspace(str(uuid.uuid4()), name, None)
        self._state.workspaces[workspace.id] = workspace
        return workspace

    async def create(self, workspace: Workspace, email: str, password_hash: str, role: Role) -> UserRecord:
        if any(user.email == email for user in self._state.users.values()):
            raise AuthError(ErrorCode.ALREADY_EXISTS, "A user with this email already exists")
        user = UserRecord(str(uuid.uuid4()), email, password_hash, False, None)
        self._state.users[user.id] = user
        await self.add_membership(user.id, workspace.id, role)
        return replace(user, membership=Membership(workspace.id, role, workspace.access_token_ttl))

    async def add_membership(self, user_id: str, workspace_id: str, role: Role) -> bool:
        if (user_id, workspace_id) in self._state.memberships:
            return False
        self._state.memberships[(user_id, workspace_id)] = role
        return True


class FakeMemberStore:
    def __init__(self, state: State) -> None:
        self._state = state

    async def hold_all(self, user_id: str) -> set[str]:
        return {w for (u, w) in self._state.memberships if u == user_id}

    async def hold(self, user_id: str, workspace_id: str) -> Membership | None:
        role = self._state.memberships.get((user_id, workspace_id))
        if role is None:
            return None
        return Membership(workspace_id, role, self._state.workspaces[workspace_id].access_token_ttl)

    async def set_password_hash(self, user_id: str, password_hash: str) -> bool:
        user = self._state.users.get(user_id)
        if user is None or user.disabled:
            return False
        self._state.users[user_id] = replace(user, password_hash=password_hash)
        return True

    async def disable(self, email: str | None = None, user_id: str | None = None) -> str | None:
        for user in self._state.users.values():
            if (user.email == email if email is not None else user.id == user_id) and not user.disabled:
                self._state.users[user.id] = replace(user, disabled=True)
                self._announced.append(f"user:{user.id}")
                return user.id
        return None


class FakeUnitOfWork:
    """Works on a copy of the world's state; commit installs it, anything else discards it."""

    def __init__(self, world: World) -> None:
        self._world = world
        self.announced: list[str] = []

    async def __aenter__(self) -> Self:
        self._draft = copy.deepcopy(self._world.state)
        self.sessions = FakeSessionStore(self._draft, self.announced)
        self.api_keys = FakeApiKeyStore(self._draft, self.announced)
        self.users = FakeUserStore(self._draft, self.announced)
        self.members = FakeMemberStore(self._draft)
        self.resets = FakeResetStore(self._draft)
        self.limiter = FakeLimiter(self._draft, self._world.clock)
        return self

    async def commit(self) -> None:
        self._world.state = self._draft
        self._world.announced += self.announced

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._draft = State()  # a rolled-back draft can change nothing any more


class _Reads:
    """The pool-side repositories: reads of the committed state."""

    def __init__(self, world: World) -> None:
        self._world = world

    async def by_email(self, email: str, workspace_id: str | None = None) -> UserRecord | None:
        for user in self._world.state.users.values():
            if user.email == email:
                return self._with_membership(user, workspace_id)
        return None

    def _with_membership(self, user: UserRecord, workspace_id: str | None) -> UserRecord:
        state = self._world.state
        mine = [w for (u, w) in state.memberships if u == user.id]  # oldest first
        if workspace_id is None:
            last = state.last_used.get(user.id)
            workspace_id = last if last in mine else (mine[0] if mine else None)
        role = state.memberships.get((user.id, workspace_id or ""))
        if workspace_id is None or role is None:
            return replace(user, membership=None, workspaces=len(mine))
        ttl = state.workspaces[workspace_id].access_token_ttl
        return replace(user, membership=Membership(workspace_id, role, ttl), workspaces=len(mine))

    async def workspaces_of(self, user_id: str) -> list[WorkspaceMembership]:
        state, now = self._world.state, self._world.clock.now()
        return [
            WorkspaceMembership(w, state.workspaces[w].name, role, now)
            for (u, w), role in state.memberships.items()
            if u == user_id
        ]

    async def count(self) -> int:
        return len(self._world.state.users)

    async def find(self, digest: bytes) -> ResetTokenRecord | None:
        state = self._world.state
        reset = state.resets.get(digest)
        if reset is None:
            return None
        user = self._with_membership(state.users[reset[0]], None)
        return ResetTokenRecord(user.id, user.email, user.workspace_id, reset[1], reset[2], user.disabled)

    async def by_id(self, user_id: str, workspace_id: str | None = None) -> UserRecord | None:
        user = self._world.state.users.get(user_id)
        return None if user is None else self._with_membership(user, workspace_id)

    async def of_user(
        self, user_id: str, now: datetime, after: Cursor | None, limit: int
    ) -> list[SessionInfo]:
        state = self._world.state
        found = [
            SessionInfo(
                sid, s.workspace_id, s.created_at or now, s.last_refreshed_at,
                s.expires_at, s.client,
            )
            for sid, s in state.sessions.items()
            if s.user_id == user_id and s.revoked_at is None and s.expires_at > now
        ]  # fmt: skip
        found.sort(key=lambda info: (info.created_at, info.id))
        if after is not None:
            found = [info for info in found if (info.created_at, info.id) > (after.created_at, after.id)]
        return found[:limit]

    async def is_live(self, session_id: str, user_id: str) -> bool:
        state = self._world.state
        session = state.sessions.get(session_id)
        user = state.users.get(user_id)
        return session is not None and session.revoked_at is None and user is not None and not user.disabled

    def known(self, digest: bytes) -> tuple[bool, ApiKeyRecord | None]:
        return False, None  # as the database: every lookup takes the awaiting path

    async def by_digest(self, digest: bytes) -> ApiKeyRecord | None:
        state = self._world.state
        for record, stored in state.keys.values():
            if stored == digest and record.revoked_at is None and not state.users[record.created_by].disabled:
                return record
        return None

    async def list(
        self, workspace_id: str, after: Cursor | None, limit: int, only: KeyFilter
    ) -> Sequence[ApiKeyRecord]:
        mine = sorted(
            (
                r
                for r, _ in self._world.state.keys.values()
                if r.workspace_id == workspace_id
                and only.environment in (None, r.environment)
                and only.state in (None, _state(r, only.now))
            ),
            key=lambda r: (r.created_at, r.id),
        )
        return [r for r in mine if after is None or (r.created_at, r.id) > (after.created_at, after.id)][
            :limit
        ]

    async def get(self, workspace_id: str) -> Workspace | None:
        return self._world.state.workspaces.get(workspace_id)

    async def set_access_token_ttl(self, workspace_id: str, ttl: int) -> Workspace | None:
        found = self._world.state.workspaces.get(workspace_id)
        if found is None:
            return None
        self._world.state.workspaces[workspace_id] = replace(found, access_token_ttl=ttl)
        return self._world.state.workspaces[workspace_id]

    async def last_success(self, account: str, network: str, since: datetime) -> datetime | None:
        at = self._world.state.networks.get((account, network))
        return at if at is not None and at >= since else None

    async def remember(self, account: str, network: str, at: datetime) -> None:
        self._world.state.networks[(account, network)] = at


class FakeHasher:
    """No bcrypt: a password "hashes" to itself, marked."""

    async def hash(self, password: str) -> str:
        return "plain:" + password

    async def verify(self, password: str, hashed: str | None) -> bool:
        return hashed is not None and hashed == "plain:" + password


class FakeCodec:
    """Tokens that are only their claims in base64, with the same time and typ rules."""

    def __init__(self, clock: FakeClock, leeway: int = 30) -> None:
        self._clock, self._leeway = clock, leeway

    def encode(self, payload: dict[str, object], typ: str) -> str:
        raw = json.dumps({"typ": typ, "claims": payload}, sort_keys=True).encode()
        return "fake." + base64.urlsafe_b64encode(raw).decode()

    def decode(
        self, token: str, typ: str, required: Sequence[str], now: int
    ) -> tuple[dict[str, object], None]:
        try:
            document = json.loads(base64.urlsafe_b64decode(token.removeprefix("fake.")))
        except ValueError:
            raise AuthError(ErrorCode.TOKEN_INVALID) from None
        claims = document["claims"]
        if document["typ"] != typ or any(
            name not in claims for name in required if name not in ("iss", "aud")
        ):
            raise AuthError(ErrorCode.TOKEN_INVALID)
        check_times(claims, now, self._leeway)
        return claims, None


class FakeAudit:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)

    async def of_workspace(
        self, workspace_id: str, only: AuditFilter, before: tuple[datetime, int] | None, limit: int
    ) -> list[AuditRecord]:
        """The trail as PostgreSQL would answer it, ids in the order recorded."""
        records = [
            AuditRecord(n, type_name(e.kind), e.at, e.user_id, e.subject_id, e.client_ip, e.detail)
            for n, e in enumerate(self.events, 1)
            if e.workspace_id == workspace_id
            and only.type in (None, type_name(e.kind))
            and only.actor_id in (None, e.user_id)
            and (only.since is None or e.at >= only.since)
        ]
        records.sort(key=lambda r: (r.at, r.id), reverse=True)
        return [r for r in records if before is None or (r.at, r.id) < before][:limit]


class FakeMembers:
    """The members of a workspace, from the committed users (no session times kept here)."""

    def __init__(self, world: World) -> None:
        self._world = world

    async def of_workspace(self, workspace_id: str, after: Cursor | None, limit: int) -> list[MemberRecord]:
        state, now = self._world.state, self._world.clock.now()
        listed = [
            MemberRecord(u, state.users[u].email, role, state.users[u].disabled, now, None)
            for (u, w), role in state.memberships.items()
            if w == workspace_id
        ]
        listed.sort(key=lambda m: m.user_id)
        return [m for m in listed if after is None or m.user_id > after.id][:limit]


class FakeUsage:
    def __init__(self) -> None:
        self.used: dict[str, datetime] = {}
        self.requests: dict[str, int] = {}

    def mark_used(self, key_id: str, at: datetime) -> None:
        self.used[key_id] = at

    def count_requests(self, key_id: str, moment: float, requests: int) -> None:
        self.requests[key_id] = self.requests.get(key_id, 0) + requests

    async def flush(self) -> None:
        pass


class _NoInvitations:
    """No invitation is ever found (invitations are tested on PostgreSQL, tests/facade)."""

    async def find(self, digest: bytes) -> InvitationRecord | None:
        return None

    async def open_in(
        self, workspace_id: str, now: datetime, after: Cursor | None, limit: int
    ) -> list[InvitationRecord]:
        return []


class _NoPublicKeys:
    def jwks(self, now: int) -> dict[str, list[dict[str, str]]]:
        return {"keys": []}

    def verification_keys(self, now: int) -> tuple[VerificationKey, ...]:
        return ()


@dataclass
class World:
    """The use cases of authsvc over in-memory fakes, and what they did."""

    policy: Policy = field(default_factory=Policy)
    clock: FakeClock = field(default_factory=FakeClock)
    state: State = field(default_factory=State)
    announced: list[str] = field(default_factory=list)
    audit: FakeAudit = field(default_factory=FakeAudit)

    def services(self) -> Services:
        reads, clock, policy = _Reads(self), self.clock, self.policy
        issuer = TokenIssuer(FakeCodec(clock, policy.leeway), clock, policy)
        # Outside a unit of work, the limiter works on whatever state is committed at the time.
        limits = Limits(_CommittedLimiter(self), self.audit, clock)

        def unit_of_work() -> FakeUnitOfWork:
            return FakeUnitOfWork(self)

        usage = FakeUsage()
        authenticator = Authenticator(
            issuer, reads, reads, usage, clock, VerifiedTokens(0, 0), policy.key_environments
        )
        login_limits = LoginLimits(limits, reads, clock, policy)
        passwords = PasswordPolicy(policy.password_min_length, common_passwords)
        sessions = SessionService(
            reads,
            reads,
            FakeHasher(),
            issuer,
            clock,
            policy,
            limits,
            self.audit,
            unit_of_work,
            login_limits,
        )
        rules = TokenRules("authsvc", "authsvc", 30)
        return Services(
            sessions=sessions,
            authenticator=authenticator,
            api_keys=ApiKeyService(reads, usage, clock, policy, self.audit, unit_of_work),
            workspace_settings=WorkspaceSettingsService(reads, policy),
            users=UserService(reads, FakeHasher(), self.audit, clock, unit_of_work, passwords),
            public_keys=PublicKeys(_NoPublicKeys(), clock),
            revocations=RevocationWatch(authenticator, None, None, _NoPublicKeys(), clock, rules),
            oauth_tokens=OAuthTokens(authenticator, issuer, sessions, clock, rules),
            account=AccountService(
                reads, reads, FakeHasher(), passwords, clock, self.audit, unit_of_work, login_limits
            ),
            audit_trail=AuditTrailService(self.audit),
            members=MembersService(FakeMembers(self), clock, self.audit, unit_of_work, policy),
            password_resets=PasswordResets(
                reads, reads, FakeHasher(), passwords, clock, self.audit, unit_of_work, limits,
                login_limits, policy,
            ),
            invitations=Invitations(
                reads, _NoInvitations(), sessions, FakeHasher(), passwords, clock, self.audit, unit_of_work,
                limits, login_limits, policy,
            ),
        )  # fmt: skip

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)


class _CommittedLimiter:
    """The limiter outside any unit of work: on whatever state is committed now."""

    def __init__(self, world: World) -> None:
        self._world = world

    async def hit(self, name: str, limit: RateLimit) -> RateDecision:
        return await FakeLimiter(self._world.state, self._world.clock).hit(name, limit)

    async def refund(self, name: str, limit: RateLimit) -> None:
        await FakeLimiter(self._world.state, self._world.clock).refund(name, limit)


def _state(record: ApiKeyRecord, now: datetime) -> KeyState:
    if record.revoked_at is not None:
        return KeyState.REVOKED
    expired = record.expires_at is not None and record.expires_at <= now
    return KeyState.EXPIRED if expired else KeyState.ACTIVE
