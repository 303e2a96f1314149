"""Token claims and the time rules applied to them.

Access and refresh tokens are both JWTs; the `typ` header tells them apart (RFC 8725 §3.11) and
is checked on every verification, so one can never be used as the other.
"""

from __future__ import annotations

import functools
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from authsvc.domain.errors import AuthError, ErrorCode

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ACCESS_TYP = "at+jwt"  # RFC 9068
REFRESH_TYP = "rt+jwt"
TOKEN_TYPE = "Bearer"
MAX_TOKEN_CHARS = 4096  # anything longer is refused before any parsing
MIN_ACCESS_TTL = 300  # 5 minutes: the bounds of any access-token lifetime, default or per workspace
MAX_ACCESS_TTL = 30 * 24 * 3600  # 30 days
ACCESS_REQUIRED_CLAIMS = ("exp", "iat", "nbf", "iss", "aud", "sub", "jti", "sid", "wid")
REFRESH_REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud", "sub", "jti", "sid")


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    workspace_id: str
    session_id: str
    jti: str
    permissions: frozenset[str]
    issued_at: int
    expires_at: int
    # When the key that signed it retires (None: not scheduled); not part of the token.
    key_retires_at: int | None = None

    def to_payload(self) -> dict[str, Any]:
        return {
            "sub": self.user_id,
            "wid": self.workspace_id,
            "sid": self.session_id,
            "jti": self.jti,
            "scope": " ".join(sorted(self.permissions)),
            "iat": self.issued_at,
            "nbf": self.issued_at,
            "exp": self.expires_at,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any], key_retires_at: int | None = None) -> AccessClaims:
        scope = payload.get("scope", "")
        fields = (payload["sub"], payload["wid"], payload["sid"], payload["jti"], scope)
        if not all(isinstance(v, str) for v in fields):
            raise AuthError(ErrorCode.TOKEN_INVALID)
        if not all(_UUID.match(payload[name]) for name in ("sub", "wid", "sid")):
            raise AuthError(ErrorCode.TOKEN_INVALID)  # we only ever issue these as UUIDs
        return cls(
            user_id=payload["sub"],
            workspace_id=payload["wid"],
            session_id=payload["sid"],
            jti=payload["jti"],
            permissions=scope_permissions(scope),
            issued_at=payload["iat"],
            expires_at=payload["exp"],
            key_retires_at=key_retires_at,
        )

    @property
    def expires_at_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at, UTC)


@dataclass(frozen=True, slots=True)
class RefreshClaims:
    user_id: str
    session_id: str
    jti: str
    issued_at: int
    expires_at: int

    def to_payload(self) -> dict[str, Any]:
        return {
            "sub": self.user_id,
            "sid": self.session_id,
            "jti": self.jti,
            "iat": self.issued_at,
            "nbf": self.issued_at,
            "exp": self.expires_at,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> RefreshClaims:
        fields = (payload["sub"], payload["sid"], payload["jti"])
        if not all(isinstance(v, str) for v in fields):
            raise AuthError(ErrorCode.TOKEN_INVALID)
        return cls(payload["sub"], payload["sid"], payload["jti"], payload["iat"], payload["exp"])


def check_times(payload: dict[str, Any], now: int, leeway: int) -> None:
    """exp/nbf/iat against the injected clock, with `leeway` seconds for clock skew."""
    exp, iat, nbf = payload.get("exp"), payload.get("iat"), payload.get("nbf", payload.get("iat"))
    for value in (exp, iat, nbf):
        if type(value) is not int:
            raise AuthError(ErrorCode.TOKEN_INVALID)
    assert isinstance(exp, int) and isinstance(iat, int) and isinstance(nbf, int)
    if now > exp + leeway:
        raise AuthError(ErrorCode.TOKEN_EXPIRED)
    if nbf > now + leeway or iat > now + leeway:
        raise AuthError(ErrorCode.TOKEN_INVALID)


@functools.lru_cache(maxsize=1024)
def scope_permissions(scope: str) -> frozenset[str]:
    """The permissions of a `scope` claim, one shared set per distinct scope: a replica holds a
    verified token's claims for as long as the token is in use, and its scope is one of the few
    its roles and keys make (a set each would cost about 1 KB a token)."""
    return frozenset(sys.intern(permission) for permission in scope.split())
