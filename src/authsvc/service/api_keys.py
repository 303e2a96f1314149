"""API keys: creating, listing, updating, rotating and revoking them."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from authsvc.domain import api_key_format, api_key_metadata, pages
from authsvc.domain.api_key_lifetime import expiry, overlap_end
from authsvc.domain.audit import AuditEvent, AuditKind
from authsvc.domain.errors import AuthError, ErrorCode, invalid_argument
from authsvc.domain.permissions import (
    ADMIN_PERMISSION,
    API_KEYS_READ,
    API_KEYS_WRITE,
    is_well_formed,
    may_change_key,
    role_permissions,
)
from authsvc.domain.plans import Limits, key_limits
from authsvc.domain.principal import Principal, PrincipalKind
from authsvc.domain.validation import check_name
from authsvc.service.metering import Metering
from authsvc.service.policy import Policy
from authsvc.service.ports import (
    ApiKeyRecord,
    ApiKeyRepository,
    AuditLog,
    Clock,
    KeyFilter,
    KeyState,
    KeyUsage,
    UnitOfWork,
    UnitOfWorkFactory,
    UsageRecorder,
)

UPDATABLE_ORDER = ("name", "permissions", "metadata", "expires_at", "rate_limit")
UPDATABLE = frozenset(UPDATABLE_ORDER)


@dataclass(frozen=True, slots=True)
class KeyChanges:
    """What an update changes: the fields named, to the values given (None metadata: none; None
    expires_at: never)."""

    fields: frozenset[str]
    name: str = ""
    permissions: Sequence[str] = ()
    metadata: object = None
    expires_at: datetime | None = None
    rate_limit: tuple[int, int] = (0, 0)  # per minute, per day; 0: the plan's


def require(caller: Principal, permission: str) -> None:
    if permission not in caller.permissions:
        raise AuthError(ErrorCode.PERMISSION_DENIED)


def require_manager(caller: Principal) -> None:
    """Who may create, change, rotate or revoke keys: `api_keys:write`, and never through a
    secret a rotation replaced (a leaked old secret must not rotate the new one away)."""
    require(caller, API_KEYS_WRITE)
    if caller.superseded:
        raise AuthError(ErrorCode.PERMISSION_DENIED, "A rotated-out secret cannot manage API keys")


def _within_caller(
    caller: Principal, expires: datetime | None, limits: Limits | None, inherit: bool
) -> tuple[datetime | None, Limits | None]:
    """A key a key makes or changes never outlives it nor outspends it: no later expiry, no
    higher limits (`inherit`: where none is asked, the calling key's own)."""
    if caller.kind is not PrincipalKind.API_KEY:
        return expires, limits
    if caller.expires_at is not None:
        if expires is None and inherit:
            expires = caller.expires_at
        elif expires is None or expires > caller.expires_at:
            raise invalid_argument("expires_at must not be later than the calling key's own")
    if caller.key_limits is not None:
        own = caller.key_limits
        asked = limits or Limits()
        merged = Limits(
            asked.per_minute if asked.per_minute is not None else own.per_minute if inherit else None,
            asked.per_day if asked.per_day is not None else own.per_day if inherit else None,
        )
        if not merged.within(own) or (not inherit and len(merged.by_window()) < len(own.by_window())):
            raise invalid_argument("rate_limit must not exceed the calling key's own")
        limits = merged if merged.by_window() else None
    return expires, limits


def _key_id(text: str) -> str:
    """A key id in its canonical form; NOT_FOUND for anything that is no id."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise AuthError(ErrorCode.NOT_FOUND, "API key not found") from None


async def _changeable(uow: UnitOfWork, caller: Principal, key_id: str) -> ApiKeyRecord:
    """The live key of the caller's workspace, locked, if the caller may change it.

    Security: changing a key takes every permission it holds, or `workspace:admin`
    (`may_change_key`), so lesser callers cannot take away or take over a greater key. A revoked
    key, or another workspace's, is NOT_FOUND like an unknown one.
    """
    record = await uow.api_keys.for_change(caller.workspace_id, key_id)
    if record is None or record.revoked_at is not None:
        raise AuthError(ErrorCode.NOT_FOUND, "API key not found")
    if not may_change_key(caller.permissions, record.permissions):
        raise AuthError(ErrorCode.PERMISSION_DENIED)
    return record


def _may_rotate(caller: Principal, record: ApiKeyRecord) -> bool:
    if ADMIN_PERMISSION in caller.permissions:
        return True
    if caller.kind is PrincipalKind.API_KEY:
        return record.id == caller.api_key_id or record.created_by_key_id == caller.api_key_id
    return record.created_by == caller.user_id


class ApiKeyService:
    def __init__(
        self,
        keys: ApiKeyRepository,
        usage: UsageRecorder,
        clock: Clock,
        policy: Policy,
        audit: AuditLog,
        unit_of_work: UnitOfWorkFactory,
        metering: Metering | None = None,
    ) -> None:
        self._metering = metering
        self._audit = audit
        self._keys = keys
        self._usage = usage
        self._clock = clock
        self._policy = policy
        self._unit_of_work = unit_of_work

    async def create(
        self,
        caller: Principal,
        name: str,
        permissions: Sequence[str],
        environment: str,
        expires_at: datetime | None = None,
        expires_in: int | None = None,
        metadata: object = None,
        rate_limit: tuple[int, int] = (0, 0),
    ) -> tuple[ApiKeyRecord, str]:
        """A new key and its secret, which is returned here once and stored only as a hash.

        The key may hold only permissions its creator holds, so no caller (user or key) can
        mint itself broader access. A key created with another key records it, and is revoked
        with it: the parent is held live until the new key is written, so no revocation of the
        parent can miss it.
        """
        require_manager(caller)
        clean_name = check_name(name)
        now = self._clock.now()
        expires = expiry(now, self._policy.api_key_max_lifetime, expires_at, expires_in)
        accepted = self._policy.key_environments
        if environment not in accepted:
            raise invalid_argument("Environment must be " + " or ".join(repr(e) for e in accepted))
        wanted = self._grantable(caller, permissions)
        attached = api_key_metadata.canonical({} if metadata is None else metadata)
        limits = await self._key_limits(caller.workspace_id, rate_limit)
        expires, limits = _within_caller(caller, expires, limits, inherit=True)
        parent = caller.api_key_id if caller.kind is PrincipalKind.API_KEY else None
        secret = api_key_format.generate(environment)
        record = ApiKeyRecord(
            id=str(uuid.uuid4()),
            workspace_id=caller.workspace_id,
            created_by=caller.user_id,
            name=clean_name,
            prefix=secret[: api_key_format.DISPLAY_PREFIX_LEN],
            permissions=wanted,
            environment=environment,
            created_at=now,
            last_used_at=None,
            revoked_at=None,
            created_by_key_id=parent,
            expires_at=expires,
            metadata=attached,
            limits=limits,
        )
        async with self._unit_of_work() as uow:
            if parent is not None and not await uow.api_keys.hold_live(parent):
                raise AuthError(ErrorCode.TOKEN_INVALID)  # revoked since it was validated
            await self._hold_role(uow, caller, wanted)
            await uow.api_keys.create(record, api_key_format.digest(secret))
            await uow.commit()
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

    async def _hold_role(self, uow: UnitOfWork, caller: Principal, granted: frozenset[str]) -> None:
        """Holds the caller's membership until the unit of work ends, and refuses (TOKEN_INVALID,
        as for a credential revoked since it was checked) when the caller is no longer a member,
        or their role no longer grants `granted`. A role change or removal racing this call
        either comes first and is seen here, or waits and then narrows or revokes what it wrote."""
        held = await uow.members.hold(caller.user_id, caller.workspace_id)
        if held is None or not granted <= role_permissions(held.role, self._policy.known_permissions):
            raise AuthError(ErrorCode.TOKEN_INVALID)

    async def _key_limits(self, workspace_id: str, asked: tuple[int, int]) -> Limits | None:
        """A key's own limits as asked, never above its workspace's plan."""
        if self._metering is None:
            plan = Limits()
        else:
            plan = await self._metering.plan_limits(workspace_id)
        return key_limits(*asked, plan)

    def _grantable(self, caller: Principal, permissions: Sequence[str]) -> frozenset[str]:
        """Permissions a key may be given by `caller`: known here, at least one, and never beyond
        the caller's own, so no caller (user or key) can mint itself broader access."""
        wanted = frozenset(permissions)
        if not wanted:
            raise invalid_argument("At least one permission is required")
        for permission in sorted(wanted):
            if permission not in self._policy.known_permissions:
                shown = f": {permission}" if is_well_formed(permission) else ""
                raise invalid_argument(f"Unknown permission{shown}")
        if not wanted <= caller.permissions:
            raise AuthError(ErrorCode.PERMISSION_DENIED)
        return wanted

    def _regrantable(self, caller: Principal, permissions: Sequence[str]) -> frozenset[str]:
        """`_grantable`, for a key's new permissions: one the caller lacks is a 400 naming it (as
        issue 14 fixes for updates; creating keeps its 403, "Insufficient permissions")."""
        lacking = sorted(frozenset(permissions) - caller.permissions)
        known = [permission for permission in lacking if permission in self._policy.known_permissions]
        if known:
            raise invalid_argument("Permissions the caller does not hold: " + ", ".join(known))
        return self._grantable(caller, permissions)

    async def update(self, caller: Principal, key_id: str, changes: KeyChanges) -> ApiKeyRecord:
        """Changes the fields `changes` names; the rules of `create` hold for the new values, and
        who may change a key is who may revoke it, but a key may not change its own expiry or
        limits, nor give another key more than its own. Every replica sees the change at once."""
        require_manager(caller)
        unknown = sorted(changes.fields - UPDATABLE)
        if unknown or not changes.fields:
            raise invalid_argument(
                (f"{unknown[0][:64]} cannot be changed: " if unknown else "Nothing to change: ")
                + "give any of "
                + ", ".join(UPDATABLE_ORDER)
            )
        canonical = _key_id(key_id)
        now = self._clock.now()
        values: dict[str, object] = {}
        if "name" in changes.fields:
            values["name"] = check_name(changes.name)
        if "permissions" in changes.fields:
            values["permissions"] = self._regrantable(caller, changes.permissions)
        if "metadata" in changes.fields:
            values["metadata"] = api_key_metadata.canonical(
                {} if changes.metadata is None else changes.metadata
            )
        if "expires_at" in changes.fields:
            values["expires_at"] = expiry(now, self._policy.api_key_max_lifetime, changes.expires_at)
        if "rate_limit" in changes.fields:
            values["limits"] = await self._key_limits(caller.workspace_id, changes.rate_limit)
        if {"expires_at", "rate_limit"} & changes.fields and caller.api_key_id == canonical:
            raise AuthError(ErrorCode.PERMISSION_DENIED, "A key cannot change its own expiry or limits")
        if "expires_at" in values or "limits" in values:
            bounded = _within_caller(
                caller,
                values.get("expires_at", caller.expires_at),  # type: ignore[arg-type]
                values.get("limits", caller.key_limits),  # type: ignore[arg-type]
                inherit=False,
            )
            values |= {"expires_at": bounded[0]} if "expires_at" in values else {}
            values |= {"limits": bounded[1]} if "limits" in values else {}
        async with self._unit_of_work() as uow:
            if "permissions" in values:
                await self._hold_role(uow, caller, values["permissions"])  # type: ignore[arg-type]
            record = await _changeable(uow, caller, canonical)
            updated = dataclasses.replace(record, **values)  # type: ignore[arg-type]
            await uow.api_keys.update(updated)
            if "permissions" in values:  # keys made with it never hold more than it does now
                made = [updated.id]
                while made:  # a statement per generation, as revocation goes
                    made = await uow.api_keys.narrow_created_with(made, updated.permissions)
            await uow.commit()
        detail = f"by {caller.kind.value} {caller.subject_id}: {', '.join(sorted(values))}"
        self._audit.record(
            AuditEvent(
                AuditKind.API_KEY_UPDATED, now, caller.user_id, caller.workspace_id, record.id, detail=detail
            )
        )
        return updated

    async def list(
        self,
        caller: Principal,
        size: int = 0,
        token: str = "",
        environment: str | None = None,
        state: KeyState | None = None,
    ) -> pages.Page[ApiKeyRecord]:
        """A page of the caller's workspace's keys, oldest first (AIP-158), of one environment
        and in one state if asked."""
        require(caller, API_KEYS_READ)
        limit, after = pages.page_size(size), pages.decode(token)
        only = KeyFilter(self._clock.now(), environment, state)
        await self._usage.flush()
        records = await self._keys.list(caller.workspace_id, after, limit + 1, only)
        return pages.page_of(records, limit, lambda last: pages.Cursor(last.created_at, last.id))

    async def revoke(self, caller: Principal, key_id: str) -> ApiKeyRecord:
        """Revokes a key of the caller's workspace, and every key created with it, transitively;
        any other id is simply NOT_FOUND (see `_changeable`)."""
        require_manager(caller)
        canonical = _key_id(key_id)
        now = self._clock.now()
        async with self._unit_of_work() as uow:
            record = await _changeable(uow, caller, canonical)
            await uow.api_keys.revoke([record.id], now)
            descendants: list[str] = []
            created = [record.id]
            while created:  # each round a statement of its own: see ApiKeyStore.revoke_created_with
                created = await uow.api_keys.revoke_created_with(created, now)
                descendants += created
            await uow.commit()
        by = f"by {caller.kind.value} {caller.subject_id}"
        for revoked, detail in [(record.id, by), *((d, f"{by}, with {record.id}") for d in descendants)]:
            event = AuditEvent(
                AuditKind.API_KEY_REVOKED, now, caller.user_id, caller.workspace_id, revoked, detail=detail
            )
            self._audit.record(event)
        return dataclasses.replace(record, revoked_at=now)

    async def rotate(self, caller: Principal, key_id: str, overlap_seconds: int) -> tuple[ApiKeyRecord, str]:
        """A new secret for the key (returned here once), everything else kept; its current secret
        validates until the overlap ends, any older one no longer. Who may: as for `revoke`, and
        besides, since rotating hands out a working secret: a user, for keys they created; a key,
        for itself and the keys it created; or a workspace admin."""
        require_manager(caller)
        canonical = _key_id(key_id)
        now = self._clock.now()
        ends = overlap_end(now, overlap_seconds)
        async with self._unit_of_work() as uow:
            record = await _changeable(uow, caller, canonical)
            if not _may_rotate(caller, record):
                raise AuthError(ErrorCode.PERMISSION_DENIED)
            secret = api_key_format.generate(record.environment)
            prefix = secret[: api_key_format.DISPLAY_PREFIX_LEN]
            await uow.api_keys.rotate(record.id, api_key_format.digest(secret), prefix, ends)
            await uow.commit()
        detail = f"by {caller.kind.value} {caller.subject_id}, old secret until {ends.isoformat()}"
        self._audit.record(
            AuditEvent(
                AuditKind.API_KEY_ROTATED, now, caller.user_id, caller.workspace_id, record.id, detail=detail
            )
        )
        return dataclasses.replace(record, prefix=prefix), secret

    async def usage(self, caller: Principal, key_id: str) -> KeyUsage:
        """The requests charged with one of the workspace's keys (revoked ones too): per UTC day
        for the last 30 days, per minute for the last hour; this replica's are flushed first,
        the others' are up to a flush interval behind."""
        require(caller, API_KEYS_READ)
        record = await self._keys.in_workspace(caller.workspace_id, _key_id(key_id))
        if record is None:
            raise AuthError(ErrorCode.NOT_FOUND, "API key not found")
        await self._usage.flush()
        return await self._usage.usage(record.id, self._clock.now())
