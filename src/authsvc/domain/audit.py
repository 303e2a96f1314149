"""Security events worth an audit record. They never carry a password, token or key."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class AuditKind(enum.Enum):
    LOGIN_SUCCEEDED = "login succeeded"
    LOGIN_FAILED = "login failed"
    RATE_LIMIT_REFUSED = "rate limit refused"
    REFRESH_TOKEN_REUSE = "refresh token reuse"
    LOGOUT = "logout"
    API_KEY_CREATED = "api key created"
    API_KEY_REVOKED = "api key revoked"
    API_KEY_ROTATED = "api key rotated"
    API_KEY_UPDATED = "api key updated"
    USER_DISABLED = "user disabled"
    SESSIONS_ENDED = "sessions ended"  # a user ended all their other sessions
    PASSWORD_CHANGED = "password changed"
    PASSWORD_CHANGE_FAILED = "password change failed"  # the current password was wrong
    PASSWORD_RESET_ISSUED = "password reset issued"  # an admin made a reset token for a member
    PASSWORD_RESET = "password reset"  # a reset token set a new password
    MEMBER_ROLE_CHANGED = "member role changed"
    MEMBER_REMOVED = "member removed"
    MEMBER_ADDED = "member added"  # by the operator, or an invitation accepted
    MEMBER_INVITED = "member invited"
    INVITATION_WITHDRAWN = "invitation withdrawn"
    WORKSPACE_SWITCHED = "workspace switched"  # a session ended for one in another workspace


def type_name(kind: AuditKind) -> str:
    """How the trail stores and shows a kind: "login_failed", "api_key_created"..."""
    return kind.name.lower()


TYPE_NAMES = frozenset(type_name(kind) for kind in AuditKind)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    kind: AuditKind
    at: datetime
    user_id: str | None = None
    workspace_id: str | None = None
    subject_id: str | None = None  # the session, API key or rate-limit bucket concerned
    client_ip: str | None = None
    detail: str | None = None
    bucket: str | None = None  # for RATE_LIMIT_REFUSED: which limit ("login-ip", "refresh-user"...)
