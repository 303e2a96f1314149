"""Roles, permissions and the rules that relate them."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable

DEFAULT_PERMISSIONS: tuple[str, ...] = (
    "geofences:read",
    "geofences:write",
    "webhooks:read",
    "webhooks:write",
    "api_keys:read",
    "api_keys:write",
    "workspace:admin",
    "tokens:verify",
    "tokens:introspect",
    "members:read",
)
ADMIN_PERMISSION = "workspace:admin"
API_KEYS_READ = "api_keys:read"
API_KEYS_WRITE = "api_keys:write"
# Watching the revocations (WatchRevocations): what a service verifying credentials itself needs.
TOKENS_VERIFY = "tokens:verify"
# OAuth token introspection and revocation (RFC 7662, RFC 7009) of any token presented.
TOKENS_INTROSPECT = "tokens:introspect"
# Listing a workspace's members (GET /api/v1/members), besides its admins.
MEMBERS_READ = "members:read"
# The permissions the service itself checks: always known, whatever else is configured.
CORE_PERMISSIONS: tuple[str, ...] = (
    API_KEYS_READ,
    API_KEYS_WRITE,
    ADMIN_PERMISSION,
    TOKENS_VERIFY,
    TOKENS_INTROSPECT,
    MEMBERS_READ,
)
_PERMISSION_SHAPE = re.compile(r"^[a-z][a-z0-9_]{0,39}:[a-z][a-z0-9_]{0,39}$")


class Role(enum.Enum):
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


def is_well_formed(permission: str) -> bool:
    return bool(_PERMISSION_SHAPE.match(permission))


def role_permissions(role: Role, known: Iterable[str]) -> frozenset[str]:
    """What a role grants, derived from the configured set of known permissions.

    admin: everything; member: everything but `workspace:admin`; viewer: every `*:read`.
    """
    known_set = frozenset(known)
    if role is Role.ADMIN:
        return known_set
    if role is Role.MEMBER:
        return known_set - {ADMIN_PERMISSION}
    return frozenset(p for p in known_set if p.endswith(":read"))


def holds(held: frozenset[str], required: Iterable[str]) -> bool:
    """Whether `held` includes every one of `required`: the one permission rule, for AuthService's
    checks and the SDK's alike. Permissions are exact names: no wildcards, no hierarchy."""
    return held.issuperset(required)


def may_change_key(caller: frozenset[str], key: frozenset[str]) -> bool:
    """Whether a caller holding `caller` may revoke (or otherwise change) a key holding `key`:
    only with every permission the key holds, or as a workspace admin. Otherwise a member, or a
    key with `api_keys:write` and little else, could take away an admin's key."""
    return ADMIN_PERMISSION in caller or key <= caller
