"""Creating, listing and revoking API keys."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from authsvc.domain import api_key_format
from authsvc.domain.audit import AuditEvent, AuditKind
from authsvc.domain.errors import AuthError, ErrorCode, invalid_argument
from authsvc.domain.permissions import is_well_formed
from authsvc.domain.principal import Principal
from authsvc.domain.validation import check_name
from authsvc.service.policy import Policy
from authsvc.service.ports import ApiKeyRecord, ApiKeyRepository, AuditLog, Clock, UsageRecorder

READ = "api_keys:read"
WRITE = "api_keys:write"


def require(caller: Principal, permission: str) -> None:
    if permission not in caller.permissions:
        raise AuthError(ErrorCode.PERMISSION_DENIED)


class ApiKeyService:
    def __init__(
        self, keys: ApiKeyRepository, usage: UsageRecorder, clock: Clock, policy: Policy, audit: AuditLog
    ) -> None:
        self._audit = audit
        self._keys = keys
        self._usage = usage
        self._clock = clock
        self._policy = policy

    async def create(
        self, caller: Principal, name: str, permissions: Sequence[str], environment: str
    ) -> tuple[ApiKeyRecord, str]:
        """A new key and its secret, which is returned here once and stored only as a hash.

        The key may hold only permissions its creator holds, so no caller (user or key) can
        mint itself broader access.
        """
        require(caller, WRITE)
        clean_name = check_name(name)
        if environment not in api_key_format.ENVIRONMENTS:
            raise invalid_argument("Environment must be 'live' or 'test'")
        wanted = frozenset(permissions)
        if not wanted:
            raise invalid_argument("At least one permission is required")
        for permission in sorted(wanted):
            if permission not in self._policy.known_permissions:
                shown = f": {permission}" if is_well_formed(permission) else ""
                raise invalid_argument(f"Unknown permission{shown}")
        if not wanted <= caller.permissions:
            raise AuthError(ErrorCode.PERMISSION_DENIED)
        secret = api_key_format.generate(environment)
        record = ApiKeyRecord(
            id=str(uuid.uuid4()),
            workspace_id=caller.workspace_id,
            created_by=caller.user_id,
            name=clean_name,
            prefix=secret[: api_key_format.DISPLAY_PREFIX_LEN],
            permissions=wanted,
            environment=environment,
            created_at=self._clock.now(),
            last_used_at=None,
            revoked_at=None,
        )
        await self._keys.create(record, api_key_format.digest(secret))
        self._audit.record(
            AuditEvent(
                AuditKind.API_KEY_CREATED,
                record.created_at,
                caller.user_id,
                caller.workspace_id,
                record.id,
                detail=f"by {caller.kind.value} {caller.subject_id}",
            )
        )
        return record, secret

    async def list(self, caller: Principal) -> Sequence[ApiKeyRecord]:
        require(caller, READ)
        await self._usage.flush()
        return await self._keys.list(caller.workspace_id)

    async def revoke(self, caller: Principal, key_id: str) -> ApiKeyRecord:
        """Revokes a key of the caller's workspace; any other id is simply NOT_FOUND."""
        require(caller, WRITE)
        try:
            canonical = str(uuid.UUID(key_id))
        except ValueError:
            raise AuthError(ErrorCode.NOT_FOUND, "API key not found") from None
        record = await self._keys.revoke(caller.workspace_id, canonical, self._clock.now())
        if record is None:
            raise AuthError(ErrorCode.NOT_FOUND, "API key not found")
        self._audit.record(
            AuditEvent(
                AuditKind.API_KEY_REVOKED,
                record.revoked_at or self._clock.now(),
                caller.user_id,
                caller.workspace_id,
                record.id,
                detail=f"by {caller.kind.value} {caller.subject_id}",
            )
        )
        return record
