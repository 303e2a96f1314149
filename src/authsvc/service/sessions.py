"""Login, refresh-token rotation and logout."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import NoReturn

from authsvc.domain.audit import AuditEvent, AuditKind
from authsvc.domain.errors import AuthError, ErrorCode, invalid_argument
from authsvc.domain.principal import Principal, PrincipalKind
from authsvc.domain.refresh_rules import RefreshDecision, decide
from authsvc.domain.validation import normalise_email
from authsvc.service.limits import Limits
from authsvc.service.login_limits import LoginLimits
from authsvc.service.policy import Policy
from authsvc.service.ports import (
    AuditLog,
    ClientDetails,
    Clock,
    PasswordHasher,
    RefreshTokenRecord,
    SessionRepository,
    UnitOfWorkFactory,
    UserRecord,
    UserRepository,
)
from authsvc.service.tokens import TokenIssuer, TokenPair

log = logging.getLogger("authsvc.audit")
NOT_A_MEMBER = "Not a member of this workspace"


class SessionService:
    def __init__(
        self,
        users: UserRepository,
        sessions: SessionRepository,
        hasher: PasswordHasher,
        issuer: TokenIssuer,
        clock: Clock,
        policy: Policy,
        limits: Limits,
        audit: AuditLog,
        unit_of_work: UnitOfWorkFactory,
        login_limits: LoginLimits,
    ) -> None:
        self._login_limits = login_limits
        self._unit_of_work = unit_of_work
        self._limits = limits
        self._audit = audit
        self._users = users
        self._sessions = sessions
        self._hasher = hasher
        self._issuer = issuer
        self._clock = clock
        self._policy = policy

    async def login(
        self,
        email: str,
        password: str,
        client_ip: str,
        user_agent: str | None = None,
        workspace_id: str | None = None,
    ) -> TokenPair:
        """Starts a session for valid credentials, within the limits of `login_limits`, in
        `workspace_id` (by default the workspace the user last used, else their oldest).

        An unknown email, a disabled user and a wrong password all cost one full bcrypt
        verification and fail with the same INVALID_CREDENTIALS, so neither the answer nor its
        timing tells an attacker which accounts exist. Only once the password is proven does a
        login say the user is no member of the workspace asked for (PERMISSION_DENIED).
        """
        network = await self._login_limits.admit_client(client_ip)  # before any other work
        normalised = normalise_email(email)
        admission = await self._login_limits.admit_account(normalised, network, client_ip)
        user = await self._users.by_email(normalised, workspace_id or None)
        matches = await self._hasher.verify(password, user.password_hash if user else None)
        # A user in no workspace (removed from the last one) is as good as disabled.
        if user is None or not matches or user.disabled or user.workspaces == 0:
            self._audit.record(
                AuditEvent(
                    AuditKind.LOGIN_FAILED,
                    self._clock.now(),
                    user_id=user.id if user else None,
                    workspace_id=user.workspace_id if user else None,
                    client_ip=client_ip,
                )
            )
            raise AuthError(ErrorCode.INVALID_CREDENTIALS)
        await self._login_limits.succeeded(admission)  # the password is right
        if user.membership is None:
            self._audit.record(
                AuditEvent(
                    AuditKind.LOGIN_FAILED, self._clock.now(), user.id, client_ip=client_ip,
                    detail="no member of the workspace asked for",
                )
            )  # fmt: skip
            raise AuthError(ErrorCode.PERMISSION_DENIED, NOT_A_MEMBER)
        session_id, pair = await self.start_session(user, ClientDetails(client_ip, user_agent))
        self._audit.record(
            AuditEvent(
                AuditKind.LOGIN_SUCCEEDED,
                self._clock.now(),
                user.id,
                user.workspace_id,
                session_id,
                client_ip,
            )
        )
        return pair

    async def start_session(
        self, user: UserRecord, client: ClientDetails | None = None
    ) -> tuple[str, TokenPair]:
        """A new session for an authenticated user, in the workspace of `user.membership`, and its
        first token pair (what a login does once the credentials have been checked)."""
        membership = user.membership
        if membership is None:
            raise AuthError(ErrorCode.PERMISSION_DENIED, NOT_A_MEMBER)
        now = self._clock.now()
        session_ends = now + timedelta(seconds=self._policy.session_max_age)
        record = self._issuer.new_refresh_record(now)
        async with self._unit_of_work() as uow:
            # Held until commit: a role change or removal meanwhile waits, then ends this session.
            held = await uow.members.hold(user.id, membership.workspace_id)
            if held is None:
                raise AuthError(ErrorCode.PERMISSION_DENIED, NOT_A_MEMBER)
            access_ends = self._issuer.access_expiry(held.access_token_ttl, session_ends)
            session_id = await uow.sessions.start(
                user.id, held.workspace_id, session_ends, record, access_ends, client
            )
            await uow.commit()
        pair = self._issuer.mint_pair(
            user_id=user.id,
            workspace_id=held.workspace_id,
            session_id=session_id,
            role=held.role,
            access_expires_at=access_ends,
            refresh=record,
        )
        return session_id, pair

    async def switch_workspace(
        self, refresh_token: str, workspace_id: str, client_ip: str, user_agent: str | None = None
    ) -> TokenPair:
        """Trades a live refresh token for a token pair in another of its user's workspaces.

        In one transaction the presented token's session ends (its access tokens stop at once, as
        on logout) and a new session starts in `workspace_id`, ending when the old one would have:
        a session belongs to one workspace for its whole life, so removing a member from a
        workspace ends every token they hold for it. The presented token is judged as by
        `refresh`: dead, replayed or reused tokens are refused the same way (reuse ends the
        session), and a switch counts against the user's refresh budget. PERMISSION_DENIED, with
        nothing changed and the token still usable, when the user is no member of `workspace_id`.
        """
        if not workspace_id:
            raise invalid_argument("workspace_id is required")
        try:
            claims = self._issuer.read_refresh(refresh_token)
        except AuthError as exc:
            await self._refuse_dead_token(client_ip, exc)
        now = self._clock.now()
        async with self._unit_of_work() as uow:
            session = await uow.sessions.for_refresh(claims.jti)
            decision = RefreshDecision.REJECT
            if session is not None:
                decision = decide(session.state, now, self._policy.refresh_grace)
            if session is not None and decision is RefreshDecision.REUSE:
                await uow.sessions.revoke(session.id, now, "refresh_token_reuse")
            if session is None or decision is not RefreshDecision.ROTATE:
                await uow.commit()
                log.info("workspace switch refused: %s ip=%s", decision.value, client_ip)
                await self._refuse_dead_token(client_ip)
            held = await uow.members.hold(session.user_id, workspace_id)
            if held is None:  # rolled back: nothing changed; the attempt costs the client's network
                await self._limits.take(
                    "refresh-ip", self._network(client_ip), self._policy.refresh_per_user, client_ip
                )
                raise AuthError(ErrorCode.PERMISSION_DENIED, NOT_A_MEMBER)
            limit = self._policy.refresh_per_user
            await self._limits.take("refresh-user", session.user_id, limit, client_ip, uow.limiter)
            record = self._issuer.new_refresh_record(now)
            access_ends = self._issuer.access_expiry(held.access_token_ttl, session.expires_at)
            client = ClientDetails(client_ip, user_agent)
            await uow.sessions.revoke(session.id, now, "switched workspace")
            new_id = await uow.sessions.start(
                session.user_id, held.workspace_id, session.expires_at, record, access_ends, client
            )
            await uow.commit()
        self._audit.record(
            AuditEvent(
                AuditKind.WORKSPACE_SWITCHED, now, session.user_id, held.workspace_id, new_id, client_ip,
                detail=f"from workspace {session.workspace_id}, session {session.id}",
            )
        )  # fmt: skip
        return self._issuer.mint_pair(
            user_id=session.user_id,
            workspace_id=held.workspace_id,
            session_id=new_id,
            role=held.role,
            access_expires_at=access_ends,
            refresh=record,
        )

    async def refresh(self, refresh_token: str, client_ip: str, user_agent: str | None = None) -> TokenPair:
        """Rotates a refresh token; see `refresh_rules.decide` for reuse and the grace window.

        Security: only a token of a live session (the current one, or one just rotated, inside the
        grace window) is counted against its user's refresh budget, in the same transaction as the
        rotation it allows: a refused rotation never happens, and a rotation never goes uncounted.
        Any other token (forged, garbage, expired, of an ended session, replayed after the window)
        is counted against the client's network instead: it must not let whoever holds a dead token
        use up, and so lock, the budget of the user it names.
        """
        try:
            claims = self._issuer.read_refresh(refresh_token)
        except AuthError as exc:
            log.info("refresh refused: unreadable token ip=%s", client_ip)
            # An expired refresh token is simply no longer valid: "Token expired" would tell the
            # client to refresh, which is what it just tried.
            await self._refuse_dead_token(client_ip, exc)
        now = self._clock.now()
        async with self._unit_of_work() as uow:
            session = await uow.sessions.for_refresh(claims.jti)
            if session is None:
                decision = RefreshDecision.REJECT
            else:
                decision = decide(session.state, now, self._policy.refresh_grace)
            live: RefreshTokenRecord | None = None
            access_ends: datetime | None = None
            if session is not None and decision is RefreshDecision.REPLAY:
                live = await uow.sessions.live_token(session, now)
                if live is None:  # the successor has expired too: a dead token after all
                    decision = RefreshDecision.REJECT
            if session is not None and decision in (RefreshDecision.ROTATE, RefreshDecision.REPLAY):
                limit = self._policy.refresh_per_user
                await self._limits.take("refresh-user", session.user_id, limit, client_ip, uow.limiter)
                access_ends = self._issuer.access_expiry(session.workspace_ttl, session.expires_at)
                if decision is RefreshDecision.ROTATE:
                    successor = self._issuer.new_refresh_record(now)
                    client = ClientDetails(client_ip, user_agent)
                    live = await uow.sessions.rotate(session, claims.jti, now, successor, access_ends, client)
                else:
                    await uow.sessions.extend_access(session.id, access_ends)
            elif session is not None and decision is RefreshDecision.REUSE:
                await uow.sessions.revoke(session.id, now, "refresh_token_reuse")
            await uow.commit()
        if session is not None and decision is RefreshDecision.REUSE:
            self._audit.record(
                AuditEvent(
                    AuditKind.REFRESH_TOKEN_REUSE,
                    now,
                    session.user_id,
                    session.workspace_id,
                    session.id,
                    client_ip,
                    "session revoked",
                )
            )
        if session is None or live is None or access_ends is None:
            log.info("refresh refused: %s", "session ended or token expired" if session else "unknown token")
            await self._refuse_dead_token(client_ip)
        log.info("refresh ok (%s) user=%s session=%s", decision.value, session.user_id, session.id)
        return self._issuer.mint_pair(
            user_id=session.user_id,
            workspace_id=session.workspace_id,
            session_id=session.id,
            role=session.role,
            access_expires_at=access_ends,
            refresh=live,
        )

    async def _refuse_dead_token(self, client_ip: str, cause: BaseException | None = None) -> NoReturn:
        """TOKEN_INVALID, once the refusal is counted against the client's network (RATE_LIMITED
        past its budget)."""
        network = self._network(client_ip)
        await self._limits.take("refresh-ip", network, self._policy.refresh_per_user, client_ip)
        raise AuthError(ErrorCode.TOKEN_INVALID) from cause

    def _network(self, client_ip: str) -> str:
        """What per-client limits count: the address, or an IPv6 client's whole network."""
        return self._login_limits.network(client_ip)

    async def logout(self, caller: Principal) -> None:
        """Revokes the caller's session: its access and refresh tokens stop working at once."""
        if caller.kind is not PrincipalKind.USER or caller.session_id is None:
            raise invalid_argument("Logout needs an access token, not an API key")
        await self.end_session(caller.session_id, caller.user_id, caller.workspace_id, caller, "logout")

    async def end_session(
        self, session_id: str, user_id: str, workspace_id: str | None, caller: Principal, reason: str
    ) -> None:
        """Revokes a session on every replica (its tokens stop working at once), for `caller`:
        a logout, or a token revocation (RFC 7009) by the session itself or a service."""
        now = self._clock.now()
        async with self._unit_of_work() as uow:
            await uow.sessions.revoke(session_id, now, reason)
            await uow.commit()
        by: str | None = f"{reason}, by {caller.kind.value} {caller.subject_id}"
        if caller.session_id == session_id:
            by = None  # the session ended itself
        self._audit.record(AuditEvent(AuditKind.LOGOUT, now, user_id, workspace_id, session_id, detail=by))
