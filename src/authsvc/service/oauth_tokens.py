"""OAuth token introspection (RFC 7662) and revocation (RFC 7009), for callers that speak those
standards rather than our SDK: API gateways, OAuth-aware libraries.

- Introspection needs a caller holding `tokens:introspect` (service-wide, as `tokens:verify`:
  give it to the keys of the services that run your gateways). A token is active exactly when
  ValidateToken would accept it: an access token of a live session, or a live API key. Anything
  else, refresh tokens included, is inactive, with nothing more said: a refresh token is never a
  credential at a resource server, so none is ever called active there.
- Revocation ends the session of an access or refresh token, on every replica (as a logout does).
  The caller holds `tokens:introspect`, or is that very session (its access token). Unknown,
  invalid or expired tokens change nothing and are no error (RFC 7009 §2.2). API keys are not
  revoked here: they have their own endpoint, and a revocation by possession alone would let
  anyone who saw a key in a log end it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from authsvc.domain import api_key_format
from authsvc.domain.errors import AuthError, ErrorCode
from authsvc.domain.permissions import TOKENS_INTROSPECT, holds
from authsvc.domain.principal import Principal, PrincipalKind
from authsvc.domain.revocations import TokenRules
from authsvc.domain.tokens import MAX_TOKEN_CHARS
from authsvc.service.authenticate import Authenticator
from authsvc.service.ports import Clock
from authsvc.service.sessions import SessionService
from authsvc.service.tokens import TokenIssuer

# Refusals that mean "not an active token": anything else (UNAVAILABLE...) is the caller's error.
_INACTIVE = frozenset({ErrorCode.TOKEN_INVALID, ErrorCode.TOKEN_EXPIRED, ErrorCode.UNAUTHENTICATED})


@dataclass(frozen=True, slots=True)
class Introspection:
    principal: Principal | None  # None: not active
    issued_at: int | None = None  # epoch seconds; access tokens only
    issuer: str | None = None  # `iss`
    audience: str | None = None  # `aud`; access tokens only


INACTIVE = Introspection(None)


class RevocationOutcome(enum.Enum):
    REVOKED = "revoked"  # its session ended (or had ended already)
    NOT_A_TOKEN = "not_a_token"  # unknown, invalid or expired: nothing to do
    UNSUPPORTED = "unsupported"  # an API key: revoked through its own endpoint


class OAuthTokens:
    def __init__(
        self,
        authenticator: Authenticator,
        issuer: TokenIssuer,
        sessions: SessionService,
        clock: Clock,
        rules: TokenRules,
    ) -> None:
        self._rules = rules
        self._authenticator = authenticator
        self._issuer = issuer
        self._sessions = sessions
        self._clock = clock

    async def introspect(self, caller: Principal, token: str, client_id: str = "") -> Introspection:
        _check_client(caller, client_id)
        if not holds(caller.permissions, (TOKENS_INTROSPECT,)):
            raise AuthError(ErrorCode.PERMISSION_DENIED)
        try:
            principal = await self._authenticator.validate(token)
        except AuthError as error:
            if error.code in _INACTIVE:
                return INACTIVE
            raise
        if principal.kind is PrincipalKind.API_KEY:
            return Introspection(principal, issuer=self._rules.issuer)
        claims = self._issuer.read_access(token, int(self._clock.now().timestamp()))
        return Introspection(principal, claims.issued_at, self._rules.issuer, self._rules.audience)

    async def revoke(self, caller: Principal, token: str, client_id: str = "") -> RevocationOutcome:
        _check_client(caller, client_id)
        if api_key_format.looks_like_api_key(token):
            return RevocationOutcome.UNSUPPORTED
        session = self._session_of(token)
        if session is None:
            return RevocationOutcome.NOT_A_TOKEN
        session_id, user_id, workspace_id = session
        if not holds(caller.permissions, (TOKENS_INTROSPECT,)) and caller.session_id != session_id:
            raise AuthError(ErrorCode.PERMISSION_DENIED)
        await self._sessions.end_session(session_id, user_id, workspace_id, caller, "token revoked")
        return RevocationOutcome.REVOKED

    def _session_of(self, token: str) -> tuple[str, str, str | None] | None:
        """The session, user and (for access tokens) workspace of a valid access or refresh token
        of ours, else None."""
        if len(token) > MAX_TOKEN_CHARS:
            return None
        now = int(self._clock.now().timestamp())
        try:
            access = self._issuer.read_access(token, now)
            return access.session_id, access.user_id, access.workspace_id
        except AuthError:
            pass
        try:
            refresh = self._issuer.read_refresh(token)
            return refresh.session_id, refresh.user_id, None
        except AuthError:
            return None


def _check_client(caller: Principal, client_id: str) -> None:
    """A caller that named itself (HTTP Basic: key id and secret) must be that key."""
    if client_id and caller.api_key_id != client_id:
        raise AuthError(ErrorCode.UNAUTHENTICATED)
