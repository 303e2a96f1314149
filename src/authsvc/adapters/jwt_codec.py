"""JWT signing and verification with PyJWT, following RFC 8725.

- Every token names its signing key (`kid`); the key, not the token, decides the algorithm, so
  `none` and algorithm-confusion tokens (HS256 "signed" with a public key) fail.
- `typ` is checked, so an access token is never accepted as a refresh token or the reverse.
- iss, aud and every listed claim are required; header parameters other than alg, typ and kid are
  refused, so `crit` extensions and key-bearing headers (jku, x5u, jwk, x5c) never get a say and
  nothing is ever fetched.
- Time claims are checked against the injected clock with a small leeway.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from typing import Any

import jwt

from authsvc.adapters.keyring import HS256, KeyRing, SigningKey
from authsvc.domain.errors import AuthError, ErrorCode
from authsvc.domain.tokens import MAX_TOKEN_CHARS, check_times

_HEADER_PARAMETERS = frozenset({"alg", "typ", "kid"})
# Strict base64url, no padding; signatures of 43 (HS256) or 86 (EdDSA) characters.
_COMPACT_JWS = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.(?:[A-Za-z0-9_-]{43}|[A-Za-z0-9_-]{86})$")
MIN_SECRET_BYTES = 32  # 256 bits, RFC 7518 §3.2


class JwtCodec:
    def __init__(self, keys: KeyRing, issuer: str, audience: str, leeway: int) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._jwt = jwt.PyJWT()

    def encode(self, payload: dict[str, object], typ: str) -> str:
        issued_at = payload.get("iat")
        key = self._keys.signer(issued_at if isinstance(issued_at, int) else 0)
        claims = {"iss": self._issuer, "aud": self._audience, **payload}
        headers = {"typ": typ, "kid": key.kid}
        return jwt.encode(claims, key.signing_key, algorithm=key.algorithm, headers=headers)

    def decode(
        self, token: str, typ: str, required: Sequence[str], now: int
    ) -> tuple[dict[str, Any], int | None]:
        key = self._key_for(token, now)
        try:
            decoded = self._jwt.decode_complete(
                token,
                key.verifying_key,
                algorithms=[key.algorithm],
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
        if header.get("typ") != typ or header.get("alg") != key.algorithm:
            raise AuthError(ErrorCode.TOKEN_INVALID)
        payload: dict[str, Any] = decoded["payload"]
        check_times(payload, now, self._leeway)
        return payload, key.retire_after

    def _key_for(self, token: str, now: int) -> SigningKey:
        """The key the token names, if it is ours and still verifies; for HS256 its HMAC is checked
        here already, so forged tokens are refused before PyJWT parses anything."""
        if len(token) > MAX_TOKEN_CHARS or not _COMPACT_JWS.match(token):
            raise AuthError(ErrorCode.TOKEN_INVALID)
        encoded_header = token[: token.index(".")]
        try:
            header = json.loads(base64.urlsafe_b64decode(encoded_header + "=" * (-len(encoded_header) % 4)))
        except (ValueError, binascii.Error, RecursionError):
            raise AuthError(ErrorCode.TOKEN_INVALID) from None
        if not isinstance(header, dict) or header.keys() - _HEADER_PARAMETERS:
            raise AuthError(ErrorCode.TOKEN_INVALID)
        key = self._keys.verifier(header.get("kid"), now)
        if key is None or header.get("alg") != key.algorithm:
            raise AuthError(ErrorCode.TOKEN_INVALID)
        if key.algorithm == HS256 and not _hmac_matches(token, key.verifying_key):
            raise AuthError(ErrorCode.TOKEN_INVALID)
        return key


def _hmac_matches(token: str, secret: bytes) -> bool:
    signing_input, _, signature = token.rpartition(".")
    digest = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return hmac.compare_digest(signature, expected)
