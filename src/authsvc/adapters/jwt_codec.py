"""JWT signing (PyJWT) and verification, following RFC 8725.

- Every token names its signing key (`kid`); the key, not the token, decides the algorithm, so
  `none` and algorithm-confusion tokens (HS256 "signed" with a public key) fail.
- `typ` is checked, so an access token is never accepted as a refresh token or the reverse.
- iss, aud and every listed claim are required; header parameters other than alg, typ and kid are
  refused, so `crit` extensions and key-bearing headers (jku, x5u, jwk, x5c) never get a say and
  nothing is ever fetched.
- Time claims are checked against the injected clock with a small leeway.
- A token whose signature failed under one of our keys is remembered (by digest, bounded) and
  refused again without verifying: an EdDSA verification is the costly part of a refusal.
- PyJWT signs and verifies EdDSA, ES256 and RS256 tokens; HS256 tokens, the hot path, are signed and verified
  here, byte for byte as PyJWT would (`_hs256_token`, `_verified_hs256_payload`;
  tests/unit/test_jwt_codec.py compares both with PyJWT).
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

from authsvc.adapters.keyring import KeyRing, SigningKey
from authsvc.adapters.signing_algorithms import HS256, b64url
from authsvc.domain.errors import AuthError, ErrorCode
from authsvc.domain.tokens import MAX_TOKEN_CHARS, check_times

_HEADER_PARAMETERS = frozenset({"alg", "typ", "kid"})
_MAX_HEADERS = 64
_MAX_FORGED = 10_000  # cleared when full
_BASE64URL = bytes.maketrans(b"+/", b"-_")
# Strict base64url, no padding; signatures of 43 (HS256), 86 (EdDSA, ES256) or 342 (RS256, 2048
# bits) characters.
_COMPACT_JWS = re.compile(
    r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.(?:[A-Za-z0-9_-]{43}|[A-Za-z0-9_-]{86}|[A-Za-z0-9_-]{342})"
)


class JwtCodec:
    def __init__(self, keys: KeyRing, issuer: str, audience: str, leeway: int) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._jwt = jwt.PyJWT()
        # Parsed headers by their base64url text: our tokens share a handful. Only headers that
        # passed the checks below are kept; made-up ones can at most flush it.
        self._headers: dict[str, dict[str, Any]] = {}
        # An HMAC already keyed, per key id, copied for each token: OpenSSL then neither looks the
        # digest up nor derives the key schedule again (the one-shot does both on every call).
        self._hmacs: dict[str, hmac.HMAC] = {}
        # Tokens whose signature failed under a key we hold: they never become valid, and an
        # EdDSA verification costs ~100x an HMAC, so a forged token sent again is refused from
        # here. Forgotten when the keys change (a signature is only ever judged by its key).
        self._forged: dict[bytes, None] = {}  # by SHA-256: at most ~1 MB, whatever the tokens
        keys.on_change(self._forged.clear)

    def encode(self, payload: dict[str, object], typ: str) -> str:
        issued_at = payload.get("iat")
        key = self._keys.signer(issued_at if isinstance(issued_at, int) else 0)
        claims = {"iss": self._issuer, "aud": self._audience, **payload}
        headers = {"typ": typ, "kid": key.kid}
        if key.algorithm == HS256 and isinstance(key.signing_key, bytes):
            return _hs256_token({"alg": HS256, **headers}, claims, key.signing_key)
        return jwt.encode(claims, key.signing_key, algorithm=key.algorithm, headers=headers)

    def decode(
        self, token: str, typ: str, required: Sequence[str], now: int
    ) -> tuple[dict[str, Any], int | None]:
        if self._forged and hashlib.sha256(token.encode()).digest() in self._forged:
            raise AuthError(ErrorCode.TOKEN_INVALID)
        key, header = self._key_for(token, now)
        if header.get("typ") != typ:
            raise AuthError(ErrorCode.TOKEN_INVALID)
        if key.algorithm == HS256:
            payload = _verified_hs256_payload(token)  # its HMAC was checked in _key_for
        else:
            payload = self._pyjwt_payload(token, key)
        self._check_claims(payload, required)
        check_times(payload, now, self._leeway)
        return payload, key.retire_after

    def _pyjwt_payload(self, token: str, key: SigningKey) -> dict[str, Any]:
        try:
            decoded = self._jwt.decode_complete(
                token,
                key.verifying_key,
                algorithms=[key.algorithm],
                options={
                    "verify_aud": False,
                    "verify_iss": False,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidSignatureError:
            self._remember_forged(token)
            raise AuthError(ErrorCode.TOKEN_INVALID) from None
        except (jwt.InvalidTokenError, ValueError, RecursionError):
            raise AuthError(ErrorCode.TOKEN_INVALID) from None
        if decoded["header"].get("alg") != key.algorithm:
            raise AuthError(ErrorCode.TOKEN_INVALID)
        payload: dict[str, Any] = decoded["payload"]
        return payload

    def _check_claims(self, payload: dict[str, Any], required: Sequence[str]) -> None:
        """The claim rules PyJWT applies with require, issuer, audience and strict_aud: every
        required claim present, `sub` and `jti` strings, `iss` and `aud` exactly ours (one
        audience, as a string)."""
        if any(payload.get(name) is None for name in required):
            raise AuthError(ErrorCode.TOKEN_INVALID)
        if any(name in payload and not isinstance(payload[name], str) for name in ("sub", "jti")):
            raise AuthError(ErrorCode.TOKEN_INVALID)
        if payload.get("iss") != self._issuer or payload.get("aud") != self._audience:
            raise AuthError(ErrorCode.TOKEN_INVALID)

    def _hmac_matches(self, token: str, key: SigningKey) -> bool:
        keyed = self._hmacs.get(key.kid)
        if keyed is None:
            keyed = self._hmacs[key.kid] = _keyed_hmac(key.verifying_key)
        signing_input, _, signature = token.encode("ascii").rpartition(b".")  # ASCII: _COMPACT_JWS
        mac = keyed.copy()
        mac.update(signing_input)
        # base64url without padding, in C: a 32-byte MAC is 43 characters and one "=".
        expected = binascii.b2a_base64(mac.digest(), newline=False).translate(_BASE64URL)[:-1]
        return hmac.compare_digest(signature, expected)

    def _key_for(self, token: str, now: int) -> tuple[SigningKey, dict[str, Any]]:
        """The key the token names, if it is ours and still verifies, and the token's header; for
        HS256 its HMAC is checked here already, so a forged token is refused before its payload
        is parsed (only the short header is read first, to find the key)."""
        if len(token) > MAX_TOKEN_CHARS or not _COMPACT_JWS.fullmatch(token):
            raise AuthError(ErrorCode.TOKEN_INVALID)
        segment = token[: token.index(".")]
        header = self._headers.get(segment)
        if header is None:
            header = _json_segment(segment)
            if header.keys() - _HEADER_PARAMETERS:
                raise AuthError(ErrorCode.TOKEN_INVALID)
            if len(self._headers) >= _MAX_HEADERS:
                self._headers.clear()
            self._headers[segment] = header
        key = self._keys.verifier(header.get("kid"), now)
        if key is None or header.get("alg") != key.algorithm:
            raise AuthError(ErrorCode.TOKEN_INVALID)
        if key.algorithm == HS256 and not self._hmac_matches(token, key):
            self._remember_forged(token)
            raise AuthError(ErrorCode.TOKEN_INVALID)
        return key, header

    def _remember_forged(self, token: str) -> None:
        if len(self._forged) >= _MAX_FORGED:
            self._forged.clear()
        self._forged[hashlib.sha256(token.encode()).digest()] = None


def _json_segment(segment: str) -> dict[str, Any]:
    """A base64url segment holding a JSON object (the alphabet was checked by _COMPACT_JWS)."""
    try:
        value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error, RecursionError):  # RecursionError: deeply nested JSON
        raise AuthError(ErrorCode.TOKEN_INVALID) from None
    if not isinstance(value, dict):
        raise AuthError(ErrorCode.TOKEN_INVALID)
    return value


def _verified_hs256_payload(token: str) -> dict[str, Any]:
    """The payload of an HS256 token whose HMAC already matched.

    PyJWT signs every token and verifies EdDSA ones; HS256 tokens, the hot path, are read here:
    PyJWT 2.15 re-checks the base64 alphabet character by character and prepares the key on every
    call (~60-100 us a token on our machines, against ~12 us here). The rules are the same, and
    tests/unit/test_jwt_codec.py checks this path against PyJWT on valid and mutated tokens.
    """
    start = token.index(".") + 1
    return _json_segment(token[start : token.index(".", start)])


def _hs256_token(header: dict[str, object], payload: dict[str, object], secret: bytes) -> str:
    """What `jwt.encode(payload, secret, "HS256", headers)` returns, without PyJWT's per-call work
    (it tries to parse the secret as a public key on every call, ~100 us a token here): the
    header JSON with sorted keys, the payload JSON as given, compact separators, HMAC-SHA256."""
    head = b64url(json.dumps(header, separators=(",", ":"), sort_keys=True).encode())
    body = b64url(json.dumps(payload, separators=(",", ":")).encode())
    signing_input = f"{head}.{body}"
    return f"{signing_input}.{b64url(hmac.digest(secret, signing_input.encode('ascii'), 'sha256'))}"


def _keyed_hmac(secret: bytes) -> hmac.HMAC:
    return hmac.new(secret, digestmod=hashlib.sha256)
