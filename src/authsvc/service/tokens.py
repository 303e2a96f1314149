"""Minting and reading access/refresh token pairs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from authsvc.domain.permissions import Role, role_permissions
from authsvc.domain.tokens import (
    ACCESS_REQUIRED_CLAIMS,
    ACCESS_TYP,
    REFRESH_REQUIRED_CLAIMS,
    REFRESH_TYP,
    TOKEN_TYPE,
    AccessClaims,
    RefreshClaims,
)
from authsvc.service.policy import Policy
from authsvc.service.ports import Clock, RefreshTokenRecord, TokenCodec


@dataclass(frozen=True, slots=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = TOKEN_TYPE


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


class TokenIssuer:
    def __init__(self, codec: TokenCodec, clock: Clock, policy: Policy) -> None:
        self._codec = codec
        self._clock = clock
        self._policy = policy

    def new_refresh_record(self, now: datetime) -> RefreshTokenRecord:
        # Whole seconds, so that re-minting a stored record reproduces the very same token.
        start = now.replace(microsecond=0)
        return RefreshTokenRecord(
            jti=str(uuid.uuid4()),
            issued_at=start,
            expires_at=start + timedelta(seconds=self._policy.refresh_token_ttl),
        )

    def mint_pair(
        self,
        *,
        user_id: str,
        workspace_id: str,
        session_id: str,
        role: Role,
        access_expires_at: datetime,
        refresh: RefreshTokenRecord,
    ) -> TokenPair:
        now = _epoch(self._clock.now())
        expires_at = _epoch(access_expires_at)
        access = AccessClaims(
            user_id=user_id,
            workspace_id=workspace_id,
            session_id=session_id,
            jti=str(uuid.uuid4()),
            permissions=role_permissions(role, self._policy.known_permissions),
            issued_at=now,
            expires_at=expires_at,
        )
        refresh_claims = RefreshClaims(
            user_id=user_id,
            session_id=session_id,
            jti=refresh.jti,
            issued_at=_epoch(refresh.issued_at),
            expires_at=_epoch(refresh.expires_at),
        )
        return TokenPair(
            access_token=self._codec.encode(access.to_payload(), ACCESS_TYP),
            refresh_token=self._codec.encode(refresh_claims.to_payload(), REFRESH_TYP),
            expires_in=expires_at - now,
        )

    def access_expiry(self, workspace_ttl: int | None, session_ends: datetime) -> datetime:
        """When an access token minted now expires: the workspace's lifetime (or the default),
        never past the end of its session, so no access token outlives its session."""
        lifetime = timedelta(seconds=workspace_ttl or self._policy.access_token_ttl)
        return min(self._clock.now().replace(microsecond=0) + lifetime, session_ends)

    def read_access(self, token: str, now: int) -> AccessClaims:
        """The claims of a valid access token at `now` (epoch seconds, read once by the caller)."""
        return read_access(self._codec, token, now)

    def read_refresh(self, token: str) -> RefreshClaims:
        payload, _ = self._codec.decode(token, REFRESH_TYP, REFRESH_REQUIRED_CLAIMS, self._now())
        return RefreshClaims.from_payload(payload)

    def _now(self) -> int:
        return _epoch(self._clock.now())


def read_access(codec: TokenCodec, token: str, now: int) -> AccessClaims:
    """The claims of a valid access token at `now`: AuthService's rule, and the SDK's when it
    verifies tokens itself (one implementation, so the two can never disagree)."""
    payload, key_retires_at = codec.decode(token, ACCESS_TYP, ACCESS_REQUIRED_CLAIMS, now)
    return AccessClaims.from_payload(payload, key_retires_at)
