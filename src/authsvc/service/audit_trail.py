"""A workspace's audit trail for its admins: logins and their failures, refresh-token reuse,
logouts and ended sessions, API key and password changes, with who, from where and when. Events
carry ids, addresses and reasons, never a password, token or key (domain.audit)."""

from __future__ import annotations

from datetime import datetime

from authsvc.domain import pages
from authsvc.domain.audit import TYPE_NAMES
from authsvc.domain.errors import AuthError, ErrorCode, invalid_argument
from authsvc.domain.permissions import ADMIN_PERMISSION
from authsvc.domain.principal import Principal
from authsvc.service.ports import AuditFilter, AuditRecord, AuditTrail


class AuditTrailService:
    def __init__(self, trail: AuditTrail) -> None:
        self._trail = trail

    async def events(
        self,
        caller: Principal,
        only: AuditFilter,
        size: int = 0,
        token: str = "",
    ) -> pages.Page[AuditRecord]:
        """A page of the caller's workspace's events, newest first (needs `workspace:admin`);
        INVALID_ARGUMENT for an unknown type or an actor that is no user id."""
        if ADMIN_PERMISSION not in caller.permissions:
            raise AuthError(ErrorCode.PERMISSION_DENIED)
        if only.type is not None and only.type not in TYPE_NAMES:
            raise invalid_argument(f"type must be one of {', '.join(sorted(TYPE_NAMES))}")
        if only.actor_id is not None and not _looks_like_id(only.actor_id):
            raise invalid_argument("actor_id must be a user id")
        limit, cursor = pages.page_size(size), pages.decode(token)
        before = _position(cursor) if cursor is not None else None
        found = await self._trail.of_workspace(caller.workspace_id, only, before, limit + 1)
        return pages.page_of(found, limit, lambda last: pages.Cursor(last.at, str(last.id)))


def _position(cursor: pages.Cursor) -> tuple[datetime, int]:
    if not (cursor.id.isascii() and cursor.id.isdigit() and len(cursor.id) <= 18):
        raise invalid_argument("Invalid page_token")
    return cursor.created_at, int(cursor.id)


def _looks_like_id(text: str) -> bool:
    parts = text.split("-")
    return [len(p) for p in parts] == [8, 4, 4, 4, 12] and all(
        c in "0123456789abcdefABCDEF" for p in parts for c in p
    )
