"""Domain values ⇄ protobuf messages."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp

from authsvc.domain.errors import invalid_argument
from authsvc.domain.plans import BudgetState
from authsvc.domain.principal import Principal, PrincipalKind
from authsvc.domain.revocations import (
    Heartbeat,
    KeysChanged,
    Revocation,
    Revoked,
    VerificationKey,
    WatchEvent,
)
from authsvc.service.ports import (
    ApiKeyRecord,
    AuditRecord,
    InvitationRecord,
    KeyState,
    MemberRecord,
    SessionInfo,
    WorkspaceMembership,
)
from authsvc.service.tokens import TokenPair
from authsvc.v1 import auth_pb2

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_KIND = {
    PrincipalKind.USER: auth_pb2.PRINCIPAL_KIND_USER,
    PrincipalKind.API_KEY: auth_pb2.PRINCIPAL_KIND_API_KEY,
}
ENVIRONMENTS: dict[str, auth_pb2.Environment] = {
    "live": auth_pb2.ENVIRONMENT_LIVE,
    "test": auth_pb2.ENVIRONMENT_TEST,
}
_ENVIRONMENT_NAMES: dict[int, str] = {value: name for name, value in ENVIRONMENTS.items()}
KEY_STATES: dict[int, KeyState] = {
    auth_pb2.API_KEY_STATE_ACTIVE: KeyState.ACTIVE,
    auth_pb2.API_KEY_STATE_REVOKED: KeyState.REVOKED,
    auth_pb2.API_KEY_STATE_EXPIRED: KeyState.EXPIRED,
}


def environment_name(value: int) -> str:
    """An Environment as the domain names it; "" for unspecified (refused where it is required)."""
    return _ENVIRONMENT_NAMES.get(value, "")


def token_pair(pair: TokenPair) -> auth_pb2.TokenPair:
    return auth_pb2.TokenPair(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
        token_type=auth_pb2.TOKEN_TYPE_BEARER,
    )


def timestamp(moment: datetime | None) -> Timestamp | None:
    if moment is None:
        return None
    # Exact, and cheaper than Timestamp.FromDatetime, which shows in the ValidateToken profile.
    since = moment - _EPOCH
    return Timestamp(seconds=since.days * 86400 + since.seconds, nanos=since.microseconds * 1000)


def moment(value: Timestamp, name: str) -> datetime:
    """A Timestamp field as an aware datetime; INVALID_ARGUMENT when it is no real moment."""
    try:
        return value.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise invalid_argument(f"{name} must be a valid time") from None


def struct(text: str) -> Struct:
    """A JSON object's text as a Struct."""
    message = Struct()
    message.update(json.loads(text))
    return message


def principal(value: Principal) -> auth_pb2.Principal:
    return auth_pb2.Principal(
        kind=_KIND[value.kind],
        subject_id=value.subject_id,
        user_id=value.user_id,
        workspace_id=value.workspace_id,
        permissions=sorted(value.permissions),
        session_id=value.session_id or "",
        api_key_id=value.api_key_id or "",
        expires_at=timestamp(value.expires_at),
        environment=ENVIRONMENTS.get(value.environment or "", auth_pb2.ENVIRONMENT_UNSPECIFIED),
        api_key_name=value.key_name or "",
        metadata=struct(value.metadata) if value.metadata is not None else None,
        secret_ends_at=timestamp(value.secret_ends_at),
    )


def api_key(record: ApiKeyRecord) -> auth_pb2.ApiKey:
    return auth_pb2.ApiKey(
        id=record.id,
        name=record.name,
        prefix=record.prefix,
        permissions=sorted(record.permissions),
        environment=ENVIRONMENTS.get(record.environment, auth_pb2.ENVIRONMENT_UNSPECIFIED),
        created_at=timestamp(record.created_at),
        last_used_at=timestamp(record.last_used_at),
        revoked_at=timestamp(record.revoked_at),
        created_by=record.created_by,
        created_by_key_id=record.created_by_key_id or "",
        expires_at=timestamp(record.expires_at),
        metadata=struct(record.metadata),
        rate_limit=auth_pb2.KeyRateLimit(
            requests_per_minute=record.limits.per_minute or 0, requests_per_day=record.limits.per_day or 0
        )
        if record.limits
        else None,
    )


def session(info: SessionInfo, current: str | None) -> auth_pb2.Session:
    return auth_pb2.Session(
        id=info.id,
        workspace_id=info.workspace_id,
        created_at=timestamp(info.created_at),
        last_refreshed_at=timestamp(info.last_refreshed_at),
        ip=info.client.ip or "",
        user_agent=info.client.user_agent or "",
        current=info.id == current,
        expires_at=timestamp(info.expires_at),
    )


def workspace_membership(found: WorkspaceMembership, current: str) -> auth_pb2.WorkspaceMembership:
    return auth_pb2.WorkspaceMembership(
        workspace_id=found.workspace_id,
        name=found.name,
        role=found.role.value,
        joined_at=timestamp(found.joined_at),
        current=found.workspace_id == current,
    )


def invitation(record: InvitationRecord) -> auth_pb2.Invitation:
    return auth_pb2.Invitation(
        invitation_id=record.id,
        email=record.email,
        role=record.role.value,
        created_at=timestamp(record.created_at),
        expires_at=timestamp(record.expires_at),
    )


def member(record: MemberRecord) -> auth_pb2.Member:
    return auth_pb2.Member(
        user_id=record.user_id,
        email=record.email,
        role=record.role.value,
        status="disabled" if record.disabled else "active",
        joined_at=timestamp(record.joined_at),
        last_login_at=timestamp(record.last_login_at),
    )


def audit_event(record: AuditRecord) -> auth_pb2.AuditEvent:
    return auth_pb2.AuditEvent(
        id=record.id,
        type=record.type,
        at=timestamp(record.at),
        actor_id=record.actor_id or "",
        subject_id=record.subject_id or "",
        ip=record.client_ip or "",
        detail=record.detail or "",
    )


def usage_count(start: datetime, requests: int) -> auth_pb2.UsageCount:
    return auth_pb2.UsageCount(start=timestamp(start), requests=requests)


def key_rate_limit(message: auth_pb2.KeyRateLimit) -> tuple[int, int]:
    return message.requests_per_minute, message.requests_per_day


def rate_limit_state(state: BudgetState) -> auth_pb2.RateLimitState:
    return auth_pb2.RateLimitState(
        policy=state.policy,
        limit=state.limit,
        remaining=state.remaining,
        reset_seconds=state.reset_seconds,
        window_seconds=state.window_seconds,
    )


def _verification_keys(keys: tuple[VerificationKey, ...]) -> auth_pb2.VerificationKeys:
    return auth_pb2.VerificationKeys(
        keys=[
            auth_pb2.VerificationKey(
                jwk=auth_pb2.Jwk(**key.jwk),
                active_from=Timestamp(seconds=key.active_from),
                retire_after=Timestamp(seconds=key.retire_after) if key.retire_after is not None else None,
            )
            for key in keys
        ]
    )


_SUBJECT = {Revoked.SESSION: "session_id", Revoked.USER: "user_id", Revoked.API_KEY: "api_key_id"}


def revocation_event(event: WatchEvent) -> auth_pb2.RevocationEvent:
    if isinstance(event, Revocation):
        subject = auth_pb2.Revocation(**{_SUBJECT[event.kind]: event.ident})
        return auth_pb2.RevocationEvent(sequence=event.sequence, revocation=subject)
    if isinstance(event, Heartbeat):
        return auth_pb2.RevocationEvent(sequence=event.sequence, heartbeat=auth_pb2.Heartbeat())
    if isinstance(event, KeysChanged):
        return auth_pb2.RevocationEvent(sequence=event.sequence, keys=_verification_keys(event.keys))
    snapshot = auth_pb2.RevocationSnapshot(
        resumed=event.resumed,
        revoked_sessions=sorted(event.revoked_sessions),
        disabled_users=sorted(event.disabled_users),
        keys=_verification_keys(event.keys),
        issuer=event.rules.issuer,
        audience=event.rules.audience,
        leeway_seconds=event.rules.leeway,
    )
    return auth_pb2.RevocationEvent(sequence=event.sequence, snapshot=snapshot)
