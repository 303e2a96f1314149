"""What a locally verifying client knows, built from WatchRevocations events: the public signing
keys and token rules, the revoked sessions and disabled users, and the API keys already asked
about. Answers are plain and synchronous; the stream and the asking live in local_verification.

Access tokens are verified by AuthService's own code (`JwtCodec`, `read_access`, the verified-token
memo), against keys that are public only: an HS256 token is never accepted here, whatever it
says (the caller asks AuthService about it instead).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from authsvc.adapters.jwt_codec import JwtCodec
from authsvc.adapters.keyring import KeyRing, SigningKey
from authsvc.adapters.signing_algorithms import public_jwk, public_key_from_jwk
from authsvc.client.principal import Principal
from authsvc.domain.api_key_lifetime import EXPIRED
from authsvc.domain.errors import AuthError, ErrorCode
from authsvc.domain.permissions import holds
from authsvc.service.tokens import read_access
from authsvc.service.verified_tokens import Verified, VerifiedTokens
from authsvc.v1 import auth_pb2


@dataclass(frozen=True, slots=True)
class _KnownKey:
    principal: Principal
    expires_at: int | None  # epoch seconds: the key's expiry
    secret_ends_at: int | None  # epoch seconds: a rotated-away secret's overlap end


class RevocationState:
    def __init__(self, verified_entries: int = 100_000, key_entries: int = 100_000) -> None:
        self.sequence = 0  # the last event applied: where a new stream resumes
        self.synced = False  # a full snapshot was applied
        self.key_epoch = 0  # moves whenever an API key's answer may have changed
        self._sessions: set[str] = set()
        self._users: set[str] = set()
        self._keys_message = auth_pb2.VerificationKeys()
        self._rules: tuple[str, str, int] = ("", "", 0)
        self._codec: JwtCodec | None = None
        self._verified_entries = verified_entries
        self._verified: VerifiedTokens[Principal] = VerifiedTokens(verified_entries, 0)
        self._known: dict[bytes, _KnownKey] = {}
        self._key_entries = key_entries

    # -- events ---------------------------------------------------------------------------------

    def apply(self, event: auth_pb2.RevocationEvent) -> None:
        kind = event.WhichOneof("event")
        if kind == "revocation":
            self._revoke(event.revocation)
        elif kind == "keys":
            self._use_keys(event.keys, self._rules)
        elif kind == "snapshot":
            snapshot = event.snapshot
            if not snapshot.resumed:  # everything held is replaced: events may have been missed
                self._sessions = set(snapshot.revoked_sessions)
                self._users = set(snapshot.disabled_users)
                self._forget_keys()
                self.synced = True
            rules = (snapshot.issuer, snapshot.audience, snapshot.leeway_seconds)
            self._use_keys(snapshot.keys, rules)
        self.sequence = event.sequence

    def _revoke(self, revocation: auth_pb2.Revocation) -> None:
        subject = revocation.WhichOneof("subject")
        if subject == "session_id":
            self._sessions.add(revocation.session_id)
            return
        if subject == "user_id":
            self._users.add(revocation.user_id)
            gone = {d for d, k in self._known.items() if k.principal.user_id == revocation.user_id}
        elif subject == "api_key_id":
            gone = {d for d, k in self._known.items() if k.principal.api_key_id == revocation.api_key_id}
        else:  # a kind of revocation this client does not know: forget every key to be safe
            gone = set(self._known)
        for digest in gone:
            del self._known[digest]
        self.key_epoch += 1

    def _use_keys(self, keys: auth_pb2.VerificationKeys, rules: tuple[str, str, int]) -> None:
        if keys == self._keys_message and rules == self._rules and self._codec is not None:
            return
        self._keys_message, self._rules = keys, rules
        ring = [key for key in map(_public_key, keys.keys) if key is not None]
        issuer, audience, leeway = rules
        self._codec = JwtCodec(KeyRing(ring), issuer, audience, leeway) if ring else None
        self._verified = VerifiedTokens(self._verified_entries, leeway)

    def _forget_keys(self) -> None:
        self._known.clear()
        self.key_epoch += 1

    # -- checks ---------------------------------------------------------------------------------

    def check_access_token(self, token: str, required: Iterable[str], now: int) -> Principal | None:
        """The principal of a valid access token holding `required` (AuthError otherwise), or
        None for a token AuthService must judge (HS256: its secret is never streamed)."""
        verified = self._verified.get(token, now)
        if verified is None:
            if self._codec is None:
                if _algorithm(token) == "HS256":
                    return None
                raise AuthError(ErrorCode.TOKEN_INVALID)
            try:
                claims = read_access(self._codec, token, now)
            except AuthError:
                if _algorithm(token) == "HS256":
                    return None
                raise
            principal = Principal(
                kind="user",
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
        if claims.session_id in self._sessions or claims.user_id in self._users:
            raise AuthError(ErrorCode.TOKEN_INVALID)
        return permitted(verified.principal, required)

    def known_api_key(self, token: str, required: Iterable[str], now: int) -> Principal | None:
        """The principal of an API key asked about before and not revoked since (None: ask)."""
        digest = _digest(token)
        known = self._known.get(digest)
        if known is None:
            return None
        if known.expires_at is not None and now >= known.expires_at:
            del self._known[digest]
            raise AuthError(ErrorCode.TOKEN_EXPIRED, EXPIRED)
        if known.secret_ends_at is not None and now >= known.secret_ends_at:
            del self._known[digest]
            raise AuthError(ErrorCode.TOKEN_INVALID)  # rotated away, its overlap over
        return permitted(known.principal, required)

    def remember_api_key(self, token: str, message: auth_pb2.Principal, epoch: int) -> Principal:
        """Keeps AuthService's answer about an API key until the stream says otherwise: unless an
        event that could change it arrived while it was asked (`epoch` moved on)."""
        principal = Principal.from_message(message)
        if epoch == self.key_epoch and principal.user_id not in self._users:
            if len(self._known) >= self._key_entries:
                self._known.clear()
            self._known[_digest(token)] = _KnownKey(
                principal,
                message.expires_at.seconds if message.HasField("expires_at") else None,
                message.secret_ends_at.seconds if message.HasField("secret_ends_at") else None,
            )
        return principal


def permitted(principal: Principal, required: Iterable[str]) -> Principal:
    required = tuple(required)
    if required and not holds(principal.permissions, required):
        raise AuthError(ErrorCode.PERMISSION_DENIED)
    return principal


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _public_key(key: auth_pb2.VerificationKey) -> SigningKey | None:
    """A streamed public key (EdDSA, ES256 or RS256) as a verifying key; anything else, or a
    key too weak or malformed to trust, is not used."""
    read = public_key_from_jwk({field.name: value for field, value in key.jwk.ListFields()})
    if read is None or not key.jwk.kid:
        return None
    algorithm, public = read
    retire_after = key.retire_after.seconds if key.HasField("retire_after") else None
    published = public_jwk(key.jwk.kid, algorithm, public)
    return SigningKey(key.jwk.kid, algorithm, None, public, published, key.active_from.seconds, retire_after)


def _algorithm(token: str) -> object:
    """The `alg` a token's header names (None when it has no readable header)."""
    head = token.partition(".")[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        return None
    return header.get("alg") if isinstance(header, dict) else None
