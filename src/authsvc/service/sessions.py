"""Login, refresh-token rotation and logout."""

from __future__ import annotations

import logging
from datetime import timedelta

from authsvc.domain.audit import AuditEvent, AuditKind
from authsvc.domain.errors import AuthError, ErrorCode, invalid_argument
from authsvc.domain.networks import client_network
from authsvc.domain.principal import Principal, PrincipalKind
from authsvc.domain.refresh_rules import RefreshDecision
from authsvc.domain.validation import normalise_email
from authsvc.service.limits import Limits
from authsvc.service.policy import Policy
from authsvc.service.ports import (
    AuditLog,
    Clock,
    PasswordHasher,
    SessionRepository,
    UserRecord,
    UserRepository,
)
from authsvc.service.tokens import TokenIssuer, TokenPair

log = logging.getLogger("authsvc.audit")


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
    ) -> None:
        self._limits = limits
        self._audit = audit
        self._users = users
        self._sessions = sessions
        self._hasher = hasher
        self._issuer = issuer
        self._clock = clock
        self._policy = policy

    async def login(self, email: str, password: str, client_ip: str) -> TokenPair:
        """Starts a session for valid credentials.

        Every request counts against its client IP, before any other work, so refused requests
        cost no bcrypt. Each attempt also counts against the account (whatever the IP: credential
        stuffing from many addresses) and is given back when it succeeds, so only failures
        accumulate there. An unknown email, a disabled user and a wrong password all cost one full
        bcrypt verification and fail with the same INVALID_CREDENTIALS, so neither the answer nor
        its timing tells an attacker which accounts exist.
        """
        policy = self._policy
        await self._limits.take("login-ip", self._network(client_ip), policy.login_per_ip, client_ip)
        normalised = normalise_email(email)
        await self._limits.take("login-account", normalised, policy.login_failures_per_account, client_ip)
        user = await self._users.by_email(normalised)
        matches = await self._hasher.verify(password, user.password_hash if user else None)
        if user is None or not matches or user.disabled:
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
        await self._limits.give_back("login-account", normalised, policy.login_failures_per_account)
        session_id, pair = await self.start_session(user)
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

    async def start_session(self, user: UserRecord) -> tuple[str, TokenPair]:
        """A new session for an authenticated user and its first token pair (what a login does
        once the credentials have been checked)."""
        now = self._clock.now()
        session_ends = now + timedelta(seconds=self._policy.session_max_age)
        record = self._issuer.new_refresh_record(now)
        access_ends = self._issuer.access_expiry(user.access_token_ttl, session_ends)
        session_id = await self._sessions.start(user.id, session_ends, record, access_ends)
        pair = self._issuer.mint_pair(
            user_id=user.id,
            workspace_id=user.workspace_id,
            session_id=session_id,
            role=user.role,
            access_expires_at=access_ends,
            refresh=record,
        )
        return session_id, pair

    async def refresh(self, refresh_token: str, client_ip: str) -> TokenPair:
        """Rotates a refresh token; see `refresh_rules.decide` for reuse and the grace window.

        Counted per user (the token's subject); a token that cannot be attributed to a user
        (bad signature, garbage) is counted against the client IP instead.
        """
        try:
            claims = self._issuer.read_refresh(refresh_token)
        except AuthError as exc:
            log.info("refresh refused: unreadable token ip=%s", client_ip)
            network = self._network(client_ip)
            await self._limits.take("refresh-ip", network, self._policy.refresh_per_user, client_ip)
            # An expired refresh token is simply no longer valid: "Token expired" would tell the
            # client to refresh, which is what it just tried.
            raise AuthError(ErrorCode.TOKEN_INVALID) from exc
        await self._limits.take("refresh-user", claims.user_id, self._policy.refresh_per_user, client_ip)
        now = self._clock.now()
        outcome = await self._sessions.refresh(
            claims.jti,
            now,
            self._policy.refresh_grace,
            self._issuer.new_refresh_record(now),
            self._issuer.access_expiry,
        )
        if outcome.decision is RefreshDecision.REUSE:
            self._audit.record(
                AuditEvent(
                    AuditKind.REFRESH_TOKEN_REUSE,
                    now,
                    outcome.user_id,
                    outcome.workspace_id,
                    outcome.session_id,
                    client_ip,
                    "session revoked",
                )
            )
            raise AuthError(ErrorCode.TOKEN_INVALID)
        if (
            outcome.decision is RefreshDecision.REJECT
            or outcome.token is None
            or outcome.access_expires_at is None
        ):
            log.info("refresh refused: session %s ended or token expired", outcome.session_id or "unknown")
            raise AuthError(ErrorCode.TOKEN_INVALID)
        log.info(
            "refresh ok (%s) user=%s session=%s", outcome.decision.value, outcome.user_id, outcome.session_id
        )
        return self._issuer.mint_pair(
            user_id=outcome.user_id,
            workspace_id=outcome.workspace_id,
            session_id=outcome.session_id,
            role=outcome.role,
            access_expires_at=outcome.access_expires_at,
            refresh=outcome.token,
        )

    def _network(self, client_ip: str) -> str:
        """What per-client limits count: the address, or an IPv6 client's whole network."""
        return client_network(client_ip, self._policy.ipv6_limit_prefix)

    async def logout(self, caller: Principal) -> None:
        """Revokes the caller's session: its access and refresh tokens stop working at once."""
        if caller.kind is not PrincipalKind.USER or caller.session_id is None:
            raise invalid_argument("Logout needs an access token, not an API key")
        now = self._clock.now()
        await self._sessions.revoke(caller.session_id, now, "logout")
        self._audit.record(
            AuditEvent(AuditKind.LOGOUT, now, caller.user_id, caller.workspace_id, caller.session_id)
        )
