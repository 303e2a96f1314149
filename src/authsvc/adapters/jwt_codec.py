"""JWT signing and verification with PyJWT, following RFC 8725.

- The algorithm list is pinned (HS256): `alg` from the token is never trusted, so `none` and
  algorithm-confusion tokens fail.
- `typ` is checked, so an access token is never accepted as a refresh token or the reverse.
- iss, aud and every listed claim are required; header parameters other than alg and typ are
  refused, so `crit` extensions, unknown `kid`s and key-bearing headers (jku, x5u, jwk, x5c)
  never get a say.
- Time claims are checked against the injected clock with a small leeway.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence
from typing import Any

import jwt

from authsvc.domain.errors import AuthError, ErrorCode
from authsvc.domain.tokens import MAX_TOKEN_CHARS, check_times

ALGORITHM = "HS256"
# We issue exactly these header parameters and accept no others: no `kid` we never issued, no
# key-bearing `jku`/`x5u`/`jwk`/`x5c` (so nothing is ever fetched), no `crit` extensions.
_HEADER_PARAMETERS = frozenset({"alg", "typ"})
_COMPACT_JWS = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$")
MIN_SECRET_BYTES = 32  # 256 bits, RFC 7518 §3.2


class JwtCodec:
    def __init__(self, secret: bytes, issuer: str, audience: str, leeway: int) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError("the JWT secret must be at least 256 bits")
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._jwt = jwt.PyJWT()

    def encode(self, payload: dict[str, object], typ: str) -> str:
        claims = {"iss": self._issuer, "aud": self._audience, **payload}
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM, headers={"typ": typ})

    def _signature_matches(self, token: str) -> bool:
        """A cheap HMAC check first, so forged or garbled tokens are refused before any JSON is
        parsed; PyJWT then verifies everything again, including the algorithm."""
        if not _COMPACT_JWS.match(token):
            return False  # strict base64url only: no padding, no stray characters
        signing_input, _, signature = token.rpartition(".")
        digest = hmac.new(self._secret, signing_input.encode("ascii"), hashlib.sha256).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
        return hmac.compare_digest(signature, expected)

    def decode(self, token: str, typ: str, required: Sequence[str], now: int) -> dict[str, Any]:
        if len(token) > MAX_TOKEN_CHARS or token.count(".") != 2 or not self._signature_matches(token):
            raise AuthError(ErrorCode.TOKEN_INVALID)
        try:
            decoded = self._jwt.decode_complete(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require": list(required),
                    "verify_exp": False,  # checked below against the injected clock
                    "verify_nbf": False,
                    "verify_iat": False,
                    "strict_aud": True,
                },
            )
        except (jwt.InvalidTokenError, ValueError, RecursionError):
            # RecursionError: deeply nested JSON; ValueError: anything else malformed.
            raise AuthError(ErrorCode.TOKEN_INVALID) from None
        header: dict[str, Any] = decoded["header"]
        if header.keys() - _HEADER_PARAMETERS or header.get("typ") != typ or header.get("alg") != ALGORITHM:
            raise AuthError(ErrorCode.TOKEN_INVALID)
        payload: dict[str, Any] = decoded["payload"]
        check_times(payload, now, self._leeway)
        return payload
