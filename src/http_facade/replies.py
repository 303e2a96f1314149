"""AuthService replies → the public JSON. Each shape is a TypedDict: plain dicts at run time (no
cost on the hot path), checked by mypy here, and the source of the OpenAPI document's schemas.
Proto3 leaves absent values empty; JSON says null."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired, Required

from google.protobuf.message import Message
from pydantic import Field, WithJsonSchema
from typing_extensions import TypedDict  # pydantic reads TypedDicts from here before Python 3.12

from authsvc.client.forward_auth_headers import ENVIRONMENTS, KINDS, Environment, Kind
from authsvc.client.structs import json_object
from authsvc.v1 import auth_pb2

ENVIRONMENT_VALUES: dict[str, auth_pb2.Environment] = {name: value for value, name in ENVIRONMENTS.items()}
KEY_STATE_VALUES: dict[str, auth_pb2.ApiKeyState] = {
    "active": auth_pb2.API_KEY_STATE_ACTIVE,
    "revoked": auth_pb2.API_KEY_STATE_REVOKED,
    "expired": auth_pb2.API_KEY_STATE_EXPIRED,
}
TOKEN_TYPES: dict[int, Literal["Bearer"]] = {auth_pb2.TOKEN_TYPE_BEARER: "Bearer"}

# An RFC 3339 timestamp (UTC, "Z") as protobuf writes it, or null when unset.
Moment = Annotated[str | None, WithJsonSchema({"type": ["string", "null"], "format": "date-time"})]


def _described(text: str) -> object:
    return Field(description=text)


class Error(TypedDict):
    detail: str


def _only(value: str) -> object:
    """A string field that holds one value today (documented as an enum of one)."""
    return Field(json_schema_extra={"enum": [value]})


def _one_of(*values: str) -> object:
    return Field(json_schema_extra={"enum": list(values)})


class OAuthError(TypedDict):
    """RFC 6749 §5.2: what the OAuth endpoints (/oauth2/*) answer instead of `{"detail"}`."""

    error: Annotated[
        str,
        _one_of(
            "invalid_request",
            "invalid_client",
            "unauthorized_client",
            "unsupported_token_type",
            "temporarily_unavailable",
            "server_error",
        ),
    ]
    error_description: str


class TokenForm(TypedDict):
    """The form of /oauth2/introspect and /oauth2/revoke (application/x-www-form-urlencoded)."""

    token: Annotated[str, _described("The token asked about: an access token, refresh token or API key")]
    token_type_hint: NotRequired[
        Annotated[str, _described('"access_token" or "refresh_token": a hint only, every kind is looked for')]
    ]


class Introspection(TypedDict, total=False):
    """RFC 7662 §2.2. Only `active` (false) for a token that is invalid, expired, revoked or a
    refresh token; for an active one, the standard members and ours."""

    active: Required[bool]
    scope: Annotated[str, _described("The token's permissions, space-separated")]
    sub: Annotated[str, _described("The user id, or the API key id")]
    exp: Annotated[int, _described("Expiry, epoch seconds; absent for an API key without one")]
    iat: Annotated[int, _described("Issued at, epoch seconds (access tokens)")]
    iss: str
    aud: Annotated[str, _described("Access tokens")]
    token_type: Annotated[str, _only("Bearer")]
    workspace_id: str
    user_id: Annotated[str, _described("The user, or the key's creator")]
    kind: Kind
    session_id: Annotated[str, _described("Access tokens: their session (login)")]
    api_key_id: str
    api_key_name: str
    environment: Environment


class Status(TypedDict):
    status: str


class TokenPair(TypedDict):
    access_token: str
    refresh_token: str
    expires_in: Annotated[int, _described("Seconds until the access token expires")]
    token_type: Literal["Bearer"]


class Principal(TypedDict):
    kind: Kind
    user_id: Annotated[str, _described("The user, or for an API key the user who created it")]
    workspace_id: str
    permissions: list[str]
    session_id: Annotated[str | None, _described("Set for users")]
    api_key_id: Annotated[str | None, _described("Set for API keys")]
    expires_at: Annotated[
        Moment, _described("When the access token expires; for an API key, when the key does (null: never)")
    ]
    environment: Annotated[Environment | None, _described("An API key's environment; null for users")]
    api_key_name: Annotated[str | None, _described("An API key's name; null for users")]
    metadata: Annotated[
        dict[str, Any] | None, _described("What an API key's creator attached to it; null for users")
    ]


class KeyRateLimit(TypedDict):
    requests_per_minute: Annotated[int | None, _described("Its own per-minute limit; null: the plan's alone")]
    requests_per_day: Annotated[int | None, _described("Its own per-day limit; null: the plan's alone")]


class ApiKey(TypedDict):
    id: str
    name: str
    prefix: Annotated[str, _described("The first characters of the key, never the secret")]
    permissions: list[str]
    environment: Environment
    created_at: Moment
    last_used_at: Moment
    revoked_at: Moment
    created_by: Annotated[str, _described("The user who created the key")]
    created_by_key_id: Annotated[
        str | None,
        _described("The API key this key was created with, if any: revoking that key revokes this one"),
    ]
    expires_at: Annotated[Moment, _described("When the key stops validating; null: never")]
    metadata: Annotated[dict[str, Any], _described("What its creator attached (at most 2 KiB as JSON)")]
    rate_limit: Annotated[
        KeyRateLimit | None, _described("Its own request limits, below its workspace's plan; null: none")
    ]


class NewApiKey(ApiKey):
    key: Annotated[str, _described("The key itself, shown this once")]


class ApiKeyList(TypedDict):
    api_keys: list[ApiKey]
    next_page_token: Annotated[str, _described("Pass it as page_token for the next page; empty on the last")]


class Session(TypedDict):
    id: str
    workspace_id: Annotated[str, _described("The workspace its tokens are scoped to")]
    created_at: Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
    last_refreshed_at: Annotated[Moment, _described("Its latest refresh; null: never refreshed")]
    ip: Annotated[str | None, _described("The client address of its latest login or refresh; null: unknown")]
    user_agent: Annotated[
        str | None, _described("The User-Agent of its latest login or refresh; null: unknown")
    ]
    current: Annotated[bool, _described("Whether it is the session of the access token asking")]
    expires_at: Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


class SessionList(TypedDict):
    sessions: list[Session]
    next_page_token: Annotated[str, _described("Pass it as page_token for the next page; empty on the last")]


class Invitation(TypedDict):
    invitation_id: str
    email: Annotated[str, _described("The address invited, in its normal form")]
    role: Annotated[str, _described("The role it gives: admin, member or viewer")]
    expires_at: Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


class NewInvitation(Invitation):
    token: NotRequired[
        Annotated[str, _described("The one-time token, shown this once; absent when it went by mail")]
    ]


class ListedInvitation(Invitation):
    created_at: Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


class InvitationList(TypedDict):
    invitations: list[ListedInvitation]
    next_page_token: Annotated[str, _described("Pass it as page_token for the next page; empty on the last")]


class Workspace(TypedDict):
    workspace_id: str
    name: Annotated[str, _described("The workspace's name")]
    role: Annotated[str, _described("The caller's role in it: admin, member or viewer")]
    joined_at: Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
    current: Annotated[bool, _described("Whether the caller's token is scoped to it")]


class WorkspaceList(TypedDict):
    workspaces: list[Workspace]


class PasswordReset(TypedDict):
    token: Annotated[str, _described("The one-time reset token, shown this once")]
    expires_at: Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


class Member(TypedDict):
    user_id: str
    email: str
    role: Annotated[str, _described('"admin", "member" or "viewer"')]
    status: Annotated[str, _described('"active", or "disabled" (removed, or disabled by an operator)')]
    joined_at: Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
    last_login_at: Annotated[Moment, _described("Their latest login; null: never")]


class MemberList(TypedDict):
    members: list[Member]
    next_page_token: Annotated[str, _described("Pass it as page_token for the next page; empty on the last")]


class AuditEvent(TypedDict):
    id: int
    type: Annotated[str, _described('What happened: "login_failed", "api_key_created"...')]
    at: Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
    actor_id: Annotated[str | None, _described("The user who acted (or whose credentials were tried)")]
    subject_id: Annotated[str | None, _described("The session, API key or user acted on")]
    ip: Annotated[str | None, _described("The client address")]
    detail: Annotated[str | None, _described("What else there is to say; never a secret")]


class AuditEventList(TypedDict):
    events: list[AuditEvent]
    next_page_token: Annotated[str, _described("Pass it as page_token for the next page; empty on the last")]


class RevokedSessions(TypedDict):
    revoked: Annotated[int, _described("How many sessions ended")]


class UsageCount(TypedDict):
    start: Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
    requests: Annotated[int, _described("Requests charged in the period")]


class KeyUsage(TypedDict):
    days: Annotated[list[UsageCount], _described("The last 30 UTC days, today last")]
    minutes: Annotated[list[UsageCount], _described("The last 60 minutes, this one last")]


class AuthSettings(TypedDict):
    workspace_id: str
    access_token_ttl_seconds: int


class Jwk(TypedDict):
    """A public signing key (RFC 7517) with exactly the members of its key type: OKP (RFC 8037:
    crv, x), EC (RFC 7518 §6.2: crv, x, y) or RSA (§6.3: n, e)."""

    kty: Annotated[str, _one_of("OKP", "EC", "RSA")]
    crv: NotRequired[Annotated[str, _one_of("Ed25519", "P-256")]]
    x: NotRequired[Annotated[str, _described("OKP: the public key; EC: the x coordinate (base64url)")]]
    y: NotRequired[Annotated[str, _described("EC: the point's y coordinate (base64url)")]]
    n: NotRequired[Annotated[str, _described("RSA: the modulus (base64url)")]]
    e: NotRequired[Annotated[str, _described("RSA: the public exponent (base64url)")]]
    kid: Annotated[str, _described("Names the key in a token's header")]
    alg: Annotated[str, _one_of("EdDSA", "ES256", "RS256")]
    use: Annotated[str, _only("sig")]


class JwkSet(TypedDict):
    keys: Annotated[
        list[Jwk], _described("The public keys that sign or still verify; empty while every key is HS256")
    ]


# The members each key type publishes besides kty, kid, alg and use.
_KEY_MEMBERS: dict[str, tuple[str, ...]] = {"OKP": ("crv", "x"), "EC": ("crv", "x", "y"), "RSA": ("n", "e")}


def moment(message: Message, name: str) -> str | None:
    """An RFC 3339 timestamp (UTC, "Z"), or None when the field is unset."""
    return getattr(message, name).ToJsonString() if message.HasField(name) else None


def token_pair(reply: auth_pb2.TokenPair) -> TokenPair:
    return {
        "access_token": reply.access_token,
        "refresh_token": reply.refresh_token,
        "expires_in": reply.expires_in,
        "token_type": TOKEN_TYPES.get(reply.token_type, "Bearer"),
    }


def principal(value: auth_pb2.Principal) -> Principal:
    return {
        "kind": KINDS[value.kind],  # AuthService names one of them; anything else is a 500, not a guess
        "user_id": value.user_id,
        "workspace_id": value.workspace_id,
        "permissions": list(value.permissions),
        "session_id": value.session_id or None,
        "api_key_id": value.api_key_id or None,
        "expires_at": moment(value, "expires_at"),
        "environment": ENVIRONMENTS.get(value.environment),
        "api_key_name": value.api_key_name if value.kind == auth_pb2.PRINCIPAL_KIND_API_KEY else None,
        "metadata": json_object(value.metadata) if value.HasField("metadata") else None,
    }


def jwk_set(reply: auth_pb2.GetJwksResponse) -> JwkSet:
    """The public signing keys as a JWK set (RFC 7517 §5); never a private or symmetric key."""
    keys: list[Jwk] = []
    for key in reply.keys:
        jwk: Jwk = {"kty": key.kty, "kid": key.kid, "alg": key.alg, "use": key.use}
        for member in _KEY_MEMBERS[key.kty]:  # AuthService sends one of these; else a 500, not a guess
            jwk[member] = getattr(key, member)  # type: ignore[literal-required]
        keys.append(jwk)
    return {"keys": keys}


def member(value: auth_pb2.Member) -> Member:
    return {
        "user_id": value.user_id,
        "email": value.email,
        "role": value.role,
        "status": value.status,
        "joined_at": value.joined_at.ToJsonString(),
        "last_login_at": moment(value, "last_login_at"),
    }


def audit_event(value: auth_pb2.AuditEvent) -> AuditEvent:
    return {
        "id": value.id,
        "type": value.type,
        "at": value.at.ToJsonString(),
        "actor_id": value.actor_id or None,
        "subject_id": value.subject_id or None,
        "ip": value.ip or None,
        "detail": value.detail or None,
    }


def invitation(value: auth_pb2.Invitation) -> Invitation:
    return {
        "invitation_id": value.invitation_id,
        "email": value.email,
        "role": value.role,
        "expires_at": value.expires_at.ToJsonString(),
    }


def listed_invitation(value: auth_pb2.Invitation) -> ListedInvitation:
    return {**invitation(value), "created_at": value.created_at.ToJsonString()}


def workspace(value: auth_pb2.WorkspaceMembership) -> Workspace:
    return {
        "workspace_id": value.workspace_id,
        "name": value.name,
        "role": value.role,
        "joined_at": value.joined_at.ToJsonString(),
        "current": value.current,
    }


def session(value: auth_pb2.Session) -> Session:
    return {
        "id": value.id,
        "workspace_id": value.workspace_id,
        "created_at": value.created_at.ToJsonString(),
        "last_refreshed_at": moment(value, "last_refreshed_at"),
        "ip": value.ip or None,
        "user_agent": value.user_agent or None,
        "current": value.current,
        "expires_at": value.expires_at.ToJsonString(),
    }


def api_key(value: auth_pb2.ApiKey) -> ApiKey:
    return {
        "id": value.id,
        "name": value.name,
        "prefix": value.prefix,
        "permissions": list(value.permissions),
        "environment": ENVIRONMENTS[value.environment],
        "created_at": moment(value, "created_at"),
        "last_used_at": moment(value, "last_used_at"),
        "revoked_at": moment(value, "revoked_at"),
        "created_by": value.created_by,
        "created_by_key_id": value.created_by_key_id or None,
        "expires_at": moment(value, "expires_at"),
        "metadata": json_object(value.metadata),
        "rate_limit": _key_rate_limit(value.rate_limit) if value.HasField("rate_limit") else None,
    }


def _key_rate_limit(value: auth_pb2.KeyRateLimit) -> KeyRateLimit:
    return {
        "requests_per_minute": value.requests_per_minute or None,
        "requests_per_day": value.requests_per_day or None,
    }


def created_api_key(reply: auth_pb2.CreateApiKeyResponse) -> NewApiKey:
    return {**api_key(reply.api_key), "key": reply.secret}


def rotated_api_key(reply: auth_pb2.RotateApiKeyResponse) -> NewApiKey:
    return {**api_key(reply.api_key), "key": reply.secret}


def key_usage(reply: auth_pb2.GetApiKeyUsageResponse) -> KeyUsage:
    return {
        "days": [{"start": count.start.ToJsonString(), "requests": count.requests} for count in reply.days],
        "minutes": [
            {"start": count.start.ToJsonString(), "requests": count.requests} for count in reply.minutes
        ],
    }


def auth_settings(value: auth_pb2.AuthSettings) -> AuthSettings:
    return {"workspace_id": value.workspace_id, "access_token_ttl_seconds": value.access_token_ttl_seconds}
