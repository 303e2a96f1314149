"""What a verifier holding no database needs to check credentials itself: the revocations, in
order, and the public keys that sign (WatchRevocations, issue 15)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Revoked(enum.Enum):
    SESSION = "session"  # a session ended (logout, refresh-token reuse): its access tokens
    USER = "user"  # a user disabled: every token and API key of theirs
    API_KEY = "api_key"  # an API key revoked, rotated or changed: forget what was cached of it


@dataclass(frozen=True, slots=True)
class Revocation:
    sequence: int  # its place in commit order, the same on every replica
    kind: Revoked
    ident: str


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A public key tokens may be signed with: never a secret that could sign."""

    kid: str
    algorithm: str
    jwk: dict[str, str]
    active_from: int  # epoch seconds: signs from then on
    retire_after: int | None  # epoch seconds: no token it signed is accepted from then on


@dataclass(frozen=True, slots=True)
class TokenRules:
    """What an access token must carry besides a good signature: our `iss` and `aud`, and times
    within `leeway` seconds of clock skew."""

    issuer: str
    audience: str
    leeway: int


@dataclass(frozen=True, slots=True)
class WatchStart:
    """The first message of a watch: everything in force as of `sequence`, or (`resumed`) only
    the keys, the revocations up to `sequence` being the watcher's already."""

    sequence: int
    resumed: bool
    revoked_sessions: frozenset[str]
    disabled_users: frozenset[str]
    keys: tuple[VerificationKey, ...]
    rules: TokenRules


@dataclass(frozen=True, slots=True)
class KeysChanged:
    sequence: int
    keys: tuple[VerificationKey, ...]


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Nothing new up to `sequence`: the watcher is exact as of now."""

    sequence: int


WatchEvent = WatchStart | Revocation | KeysChanged | Heartbeat
