"""Request bodies: pydantic models that check each JSON body on the way in and describe it in the
OpenAPI document.

Only the transport is checked here (UTF-8, JSON, an object with the right fields of the right
JSON types, values protobuf can carry); what the values mean is AuthService's business, so enums
and bounds in `json_schema_extra` document what it accepts without refusing anything here.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Annotated, Any, TypeVar

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from authsvc.domain.api_key_lifetime import MAX_OVERLAP
from authsvc.domain.tokens import MAX_ACCESS_TTL, MIN_ACCESS_TTL
from http_facade.errors import FacadeError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _utf8(value: str) -> str:
    """A JSON string protobuf can carry: "\\ud800" decodes to a lone surrogate, which is not UTF-8."""
    value.encode("utf-8")  # UnicodeEncodeError is a ValueError: pydantic reports the field
    return value


Text = Annotated[str, AfterValidator(_utf8)]
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX, json_schema_extra={"format": "int64"})]


class RequestBody(BaseModel):
    """A JSON object whose fields are all required, of exactly their JSON type, and no others."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


METADATA = "A JSON object (at most 2 KiB) told to every service that validates the key"


class KeyRateLimit(RequestBody):
    """A key's own limits, at most its workspace's plan's; 0 or absent: none over that window."""

    requests_per_minute: Int64 = Field(0, description="Requests per minute (clock minutes)")
    requests_per_day: Int64 = Field(0, description="Requests per day (UTC days)")


class LoginRequest(RequestBody):
    email: Text = Field(description="The account's email address", json_schema_extra={"format": "email"})
    password: Text = Field(description="The account's password")
    workspace_id: Text = Field(
        "",
        description="The workspace to log in to; absent: the one the user last used (else their oldest)",
    )


class InvitationRequest(RequestBody):
    email: Text = Field(description="The address to invite", json_schema_extra={"format": "email"})
    role: Text = Field(
        description="The role it gives in the workspace",
        json_schema_extra={"enum": ["admin", "member", "viewer"]},
    )


class InvitationAcceptance(RequestBody):
    token: Text = Field(description="The invitation's one-time token")
    password: Text = Field(
        description="A new account's password (the password policy applies), or an existing account's own"
    )


class SwitchWorkspaceRequest(RequestBody):
    refresh_token: Text = Field(description="The refresh token of the latest login, refresh or switch")
    workspace_id: Text = Field(description="The workspace the new pair is scoped to")


class RefreshRequest(RequestBody):
    refresh_token: Text = Field(description="The refresh token of the last login or refresh")


class PasswordChange(RequestBody):
    current_password: Text = Field(description="The account's password now")
    new_password: Text = Field(
        description="The new password: at least the deployment's minimum length (15 characters by "
        "default), at most 72 bytes in UTF-8, not the email, not a commonly used password"
    )


class MemberUpdate(RequestBody):
    role: Text = Field(
        description="The member's new role", json_schema_extra={"enum": ["admin", "member", "viewer"]}
    )


class PasswordResetRequest(RequestBody):
    email: Text = Field(description="The account's email address", json_schema_extra={"format": "email"})


class PasswordResetConfirmation(RequestBody):
    token: Text = Field(description="The reset token, as the workspace admin was given it")
    new_password: Text = Field(description="The new password, under the same policy as a change")


class NewApiKeyRequest(RequestBody):
    name: Text = Field(description="A label to recognise the key by", examples=["Production ingest"])
    permissions: list[Text] = Field(
        description="What the key may do: a subset of the caller's own permissions",
        json_schema_extra={"minItems": 1},
    )
    environment: Text = Field(
        description="Where the key is meant to be used", json_schema_extra={"enum": ["live", "test"]}
    )
    # At most one of these two (neither: the key never expires), within the deployment's maximum
    # lifetime (a year by default).
    expires_at: Text | None = Field(
        None,
        description="When the key stops validating (RFC 3339); not with expires_in_seconds",
        json_schema_extra={"format": "date-time"},
    )
    expires_in_seconds: Int64 | None = Field(
        None, description="Seconds until the key stops validating; not with expires_at"
    )
    metadata: dict[str, Any] | None = Field(None, description=METADATA)
    rate_limit: KeyRateLimit | None = Field(None, description="Limits of its own, below the plan's")


class ApiKeyUpdate(RequestBody):
    """The fields given change; those left out stay as they are."""

    name: Text = Field(default_factory=str, description="A new label")
    permissions: list[Text] = Field(
        default_factory=list, description="What the key may do from now on: never beyond the caller's own"
    )
    metadata: dict[str, Any] | None = Field(None, description=METADATA + "; null: none")
    expires_at: Text | None = Field(
        None,
        description="When the key stops validating (RFC 3339); null: never",
        json_schema_extra={"format": "date-time"},
    )
    rate_limit: KeyRateLimit | None = Field(
        None, description="Limits of its own, below the plan's; null: none"
    )


class RotateRequest(RequestBody):
    overlap_seconds: Int64 = Field(
        description="How long the old secret keeps validating (0: not at all)",
        json_schema_extra={"minimum": 0, "maximum": MAX_OVERLAP},
    )


class AuthSettingsUpdate(RequestBody):
    access_token_ttl_seconds: Int64 = Field(
        description="Lifetime of access tokens issued from now on in this workspace",
        json_schema_extra={"minimum": MIN_ACCESS_TTL, "maximum": MAX_ACCESS_TTL},
    )


_WANTED = {
    "string": "a string",
    "integer": "a whole number",
    "array": "a list of strings",
    "object": "a JSON object",
}
Body = TypeVar("Body", bound=RequestBody)


async def read_json(request: web.Request, model: type[Body]) -> Body:
    """The request's JSON body as `model`; 415, 413 or 400 otherwise."""
    if request.content_type != "application/json" or (request.charset or "utf-8").lower() != "utf-8":
        raise FacadeError(415, "Content-Type must be application/json")
    raw = await request.read()  # aiohttp answers 413 beyond the app's client_max_size
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FacadeError(400, "Request body must be UTF-8") from None
    try:
        document = json.loads(
            text, parse_constant=_refuse_constant, parse_float=_finite, object_pairs_hook=_unique_keys
        )
    except (ValueError, RecursionError):  # JSONDecodeError, our refusals below, absurd nesting
        raise FacadeError(400, "Request body must be valid JSON") from None
    if not isinstance(document, dict):
        raise FacadeError(400, "Request body must be a JSON object")
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise FacadeError(400, _refusal(model, error)) from None


def _refusal(model: type[RequestBody], error: ValidationError) -> str:
    """The one problem to name: an unknown field first, then the fields in their declared order.
    A field inside an object is named by its path ("rate_limit.requests_per_day")."""
    problems = error.errors(include_url=False, include_context=False, include_input=False)
    unknown = [problem for problem in problems if problem["type"] == "extra_forbidden"]
    if unknown:
        return f"Unknown field: {_path(unknown[0]['loc'])[:64]}"
    name = _path(problems[0]["loc"])
    if problems[0]["type"] == "missing":
        return f"Missing field: {name}"
    return f"Field {name} must be {_wanted(model)[name]}"


def _path(loc: tuple[int | str, ...]) -> str:
    """The field a problem is about: list positions left out (the list is named)."""
    return ".".join(str(part) for part in loc if isinstance(part, str))


@functools.cache
def _wanted(model: type[RequestBody]) -> dict[str, str]:
    """ "a string", "a whole number"... for each field, and each field of its objects, by path."""
    schema = model.model_json_schema()
    definitions = schema.get("$defs", {})
    wanted: dict[str, str] = {}

    def walk(properties: dict[str, Any], prefix: str) -> None:
        for name, field in properties.items():
            kinds = [field, *field.get("anyOf", [])]  # an optional field: its type, or null
            kinds = [definitions[k["$ref"].rsplit("/", 1)[1]] if "$ref" in k else k for k in kinds]
            kind = next(k for k in kinds if k.get("type") in _WANTED)
            wanted[prefix + name] = _WANTED[kind["type"]]
            if "properties" in kind:
                walk(kind["properties"], f"{prefix}{name}.")

    walk(schema["properties"], "")
    return wanted


def _finite(text: str) -> float:
    """1e400 reads as infinity, which no JSON value is: refused like NaN."""
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text[:20]} is out of range")
    return value


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Refuses duplicate keys: two parsers must never read one body two ways."""
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("duplicate key")
    return document
