"""ValidateToken: what an access token or API key stands for, and whether it holds enough."""

from __future__ import annotations

import logging
from collections.abc import Coroutine, Iterable
from typing import Any

from authsvc.domain import api_key_format
from authsvc.domain.api_key_lifetime import check_unexpired
from authsvc.domain.errors import AuthError, ErrorCode
from authsvc.domain.permissions import holds
from authsvc.domain.plans import BudgetState
from authsvc.domain.principal import Principal, PrincipalKind
from authsvc.domain.tokens import MAX_TOKEN_CHARS
from authsvc.service.metering import Metering
from authsvc.service.ports import ApiKeyRecord, ApiKeyRepository, Clock, SessionRepository, UsageRecorder
from authsvc.service.tokens import TokenIssuer
from authsvc.service.verified_tokens import Verified, VerifiedTokens

log = logging.getLogger("authsvc.audit")
_MAX_KEY_PRINCIPALS = 100_000
# A key's principal is kept while the key is used: one not asked for in one to two of these is
# let go (revoked keys and keys gone quiet), so the table follows the keys in use, not all ever seen.
KEY_PRINCIPAL_IDLE_SECONDS = 60.0


class Authenticator:
    def __init__(
        self,
        issuer: TokenIssuer,
        sessions: SessionRepository,
        api_keys: ApiKeyRepository,
        usage: UsageRecorder,
        clock: Clock,
        verified: VerifiedTokens[Principal] | None = None,
        key_environments: tuple[str, ...] = api_key_format.ENVIRONMENTS,
        metering: Metering | None = None,
    ) -> None:
        self._metering = metering
        # Keys of other environments (a production deployment that must never see an sf_test_
        # key) are refused before any parsing or lookup.
        self._accepted_prefixes = api_key_format.prefixes(key_environments)
        # `is None`, not `or`: an empty memo has no entries, so it is falsy (it has a length).
        self._verified = verified if verified is not None else VerifiedTokens(0, 0)
        self._issuer = issuer
        self._sessions = sessions
        self._api_keys = api_keys
        self._usage = usage
        self._clock = clock
        # The principal of each cached API key record, built once per record (see VerifiedTokens).
        self._key_principals: dict[str, tuple[ApiKeyRecord, Principal]] = {}
        self._idle_key_principals: dict[str, tuple[ApiKeyRecord, Principal]] = {}  # the generation before
        self._key_generation_began: float | None = None

    def validate(
        self, token: str, required_permissions: Iterable[str] = ()
    ) -> Coroutine[Any, Any, Principal]:
        """The principal behind `token`, which must hold every one of `required_permissions`.

        Oversized input and API keys with a bad checksum are refused before any parsing or query.
        A plain function returning the coroutine to await: the hot path (and an attacker's) gets
        no extra coroutine, and no catch-and-reraise of refusals when nothing logs them.
        """
        if log.isEnabledFor(logging.DEBUG):
            return self._validate_logged(token, required_permissions)
        return self._validate(token, required_permissions)

    def validate_now(self, token: str, required_permissions: Iterable[str] = ()) -> Principal | None:
        """`validate`, when memory alone can answer it (an API key the validation cache knows):
        no await on the hot path. None when it cannot (an access token, a key to look up, or
        DEBUG logging, which only `validate` does); refusals raise as `validate` would."""
        if not api_key_format.looks_like_api_key(token) or len(token) > MAX_TOKEN_CHARS:
            return None
        if log.isEnabledFor(logging.DEBUG):
            return None
        found, record = self._api_keys.known(self._key_digest(token))
        return _permitted(self._key_principal(record), required_permissions) if found else None

    def charged_now(
        self, token: str, required_permissions: Iterable[str], cost: int
    ) -> tuple[Principal, tuple[BudgetState, ...]] | None:
        """`charged`, when memory alone can answer it; None when it cannot."""
        principal = self.validate_now(token, required_permissions)
        if principal is None:
            return None
        if self._metering is None:
            return principal, ()
        states = self._metering.charge_now(principal, cost)
        return None if states is None else (principal, states)

    async def charged(
        self, token: str, required_permissions: Iterable[str], cost: int
    ) -> tuple[Principal, tuple[BudgetState, ...]]:
        """`validate`, then `cost` requests charged to the principal's limits (service.metering):
        the principal and where each limit stands, or RATE_LIMITED."""
        principal = await self.validate(token, required_permissions)
        metering = self._metering
        if metering is None:
            return principal, ()
        states = metering.charge_now(principal, cost)
        if states is None:
            states = await metering.charge(principal, cost)
        return principal, states

    async def _validate_logged(self, token: str, required_permissions: Iterable[str]) -> Principal:
        # DEBUG only: an attacker's garbage must not flood the logs.
        try:
            principal = await self._validate(token, required_permissions)
        except AuthError as error:
            log.debug("validation refused: %s", error.code.value)
            raise
        log.debug("validation ok: %s %s", principal.kind.value, principal.subject_id)
        return principal

    async def _validate(self, token: str, required_permissions: Iterable[str]) -> Principal:
        if not token:
            raise AuthError(ErrorCode.UNAUTHENTICATED)  # no credentials at all
        if len(token) > MAX_TOKEN_CHARS:
            raise AuthError(ErrorCode.TOKEN_INVALID)
        if api_key_format.looks_like_api_key(token):
            digest = self._key_digest(token)
            principal = self._key_principal(await self._api_keys.by_digest(digest))
        else:
            principal = await self._access_token_principal(token)
        return _permitted(principal, required_permissions)

    def _key_digest(self, token: str) -> bytes:
        """The digest an API key is looked up by; TOKEN_INVALID before any lookup for a key of
        another environment or with a bad checksum."""
        if not token.startswith(self._accepted_prefixes):
            raise AuthError(ErrorCode.TOKEN_INVALID)
        digest = api_key_format.checked_digest(token)
        if digest is None:
            raise AuthError(ErrorCode.TOKEN_INVALID)
        return digest

    def _key_principal(self, record: ApiKeyRecord | None) -> Principal:
        if record is None:
            raise AuthError(ErrorCode.TOKEN_INVALID)
        now = self._clock.now()
        check_unexpired(record.expires_at, now)
        if record.secret_ends_at is not None and now >= record.secret_ends_at:
            raise AuthError(ErrorCode.TOKEN_INVALID)  # a secret rotated away, its overlap over
        self._usage.mark_used(record.id, now)
        known = self._known_key_principal(record.id)
        if known is not None and known[0] is record:
            return known[1]
        principal = Principal(
            kind=PrincipalKind.API_KEY,
            subject_id=record.id,
            user_id=record.created_by,
            workspace_id=record.workspace_id,
            permissions=record.permissions,
            api_key_id=record.id,
            expires_at=record.expires_at,
            environment=record.environment,
            key_name=record.name,
            metadata=record.metadata,
            key_limits=record.limits,
            secret_ends_at=record.secret_ends_at,
        )
        if known is not None and known[1] == principal:
            # The record was read again but says the same: keep the one principal object, which
            # keys the encoded replies and the metering tickets (equal is slow, identical is not).
            principal = known[1]
        if len(self._key_principals) >= _MAX_KEY_PRINCIPALS:
            self._key_principals.clear()
        self._key_principals[record.id] = (record, principal)
        return principal

    def _known_key_principal(self, key_id: str) -> tuple[ApiKeyRecord, Principal] | None:
        """The key's record and principal from either generation (an idle one is kept again);
        a generation older than KEY_PRINCIPAL_IDLE_SECONDS becomes the idle one first."""
        moment = self._clock.timestamp()
        began = self._key_generation_began
        if began is None:
            self._key_generation_began = moment
        elif moment - began >= KEY_PRINCIPAL_IDLE_SECONDS:
            self._idle_key_principals, self._key_principals = self._key_principals, {}
            self._key_generation_began = moment
        known = self._key_principals.get(key_id)
        if known is None:
            known = self._idle_key_principals.pop(key_id, None)
            if known is not None:
                self._key_principals[key_id] = known
        return known

    async def _access_token_principal(self, token: str) -> Principal:
        now = int(self._clock.now().timestamp())
        verified = self._verified.get(token, now)
        if verified is None:
            claims = self._issuer.read_access(token, now)
            principal = Principal(
                kind=PrincipalKind.USER,
                subject_id=claims.user_id,
                user_id=claims.user_id,
                workspace_id=claims.workspace_id,
                permissions=claims.permissions,
                session_id=claims.session_id,
                expires_at=claims.expires_at_datetime,
            )
            verified = Verified(claims, principal)
            self._verified.put(token, verified)
        claims = verified.claims
        if not await self._sessions.is_live(claims.session_id, claims.user_id):
            raise AuthError(ErrorCode.TOKEN_INVALID)
        return verified.principal


def _permitted(principal: Principal, required_permissions: Iterable[str]) -> Principal:
    if required_permissions and not holds(principal.permissions, required_permissions):
        raise AuthError(ErrorCode.PERMISSION_DENIED)
    return principal
