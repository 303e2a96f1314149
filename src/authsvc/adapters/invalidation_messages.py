"""The invalidation messages replicas send each other (NOTIFY payloads), named and parsed here only.

"<kind>:<id>", and for a new API key "api_key_created:<id>:<sha256 hex>": the digest lets every
replica add the key to its set of live digests as it hears of it, so an unknown key can be refused
without a query from the first moment. (A digest of a 190-bit random key gives nothing away; the
table holds the same.) A creation message without a digest comes from an older release.

A revocation (session, user, API key) is also numbered in PostgreSQL (adapters.revocation_log)
and sent as "<sequence>|<message>": the revocation stream passes the numbers on, so a verifier
resumes on any replica. Older releases never number theirs.
"""

from __future__ import annotations

from typing import NamedTuple

SESSION_REVOKED = "session"
USER_DISABLED = "user"
KEY_REVOKED = "api_key"
KEY_CREATED = "api_key_created"
SIGNING_KEYS_CHANGED = "signing_keys"
WORKSPACE_PLAN = "workspace_plan"


# The kinds a verifier must hear of, in order (WatchRevocations).
REVOCATIONS = frozenset({SESSION_REVOKED, USER_DISABLED, KEY_REVOKED})


class Invalidation(NamedTuple):
    kind: str
    ident: str
    digest: bytes | None = None
    sequence: int | None = None  # a numbered revocation's place in commit order


def numbered(sequence: int, message: str) -> str:
    return f"{sequence}|{message}"


def session_revoked(session_id: object) -> str:
    return f"{SESSION_REVOKED}:{session_id}"


def user_disabled(user_id: object) -> str:
    return f"{USER_DISABLED}:{user_id}"


def key_revoked(key_id: object) -> str:
    return f"{KEY_REVOKED}:{key_id}"


def key_changed(key_id: object) -> str:
    """A key's secrets changed (a rotation): replicas forget its cached records, as for a
    revocation, and look it up again (so a release that predates rotation handles it too)."""
    return key_revoked(key_id)


def workspace_plan_changed(workspace_id: object) -> str:
    return f"{WORKSPACE_PLAN}:{workspace_id}"


def key_created(key_id: object, digest: bytes) -> str:
    return f"{KEY_CREATED}:{key_id}:{digest.hex()}"


def parse(message: str) -> Invalidation:
    sequence = None
    number, bar, unnumbered = message.partition("|")
    if bar and number.isascii() and number.isdigit():
        sequence, message = int(number), unnumbered
    kind, _, rest = message.partition(":")
    if kind != KEY_CREATED:
        return Invalidation(kind, rest, None, sequence)
    ident, _, digest_hex = rest.partition(":")
    try:
        digest = bytes.fromhex(digest_hex) if digest_hex else None
    except ValueError:
        digest = None
    return Invalidation(kind, ident, digest if digest is None or len(digest) == 32 else None)
