"""AuthService replies → the public JSON, and its JSON Schemas. Proto3 leaves absent values empty;
JSON says null."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message

from authsvc.v1 import auth_pb2

KINDS = {auth_pb2.PRINCIPAL_KIND_USER: "user", auth_pb2.PRINCIPAL_KIND_API_KEY: "api_key"}
# The public names of the proto's enums (the REST API keeps the strings it always had).
ENVIRONMENTS: dict[int, str] = {auth_pb2.ENVIRONMENT_LIVE: "live", auth_pb2.ENVIRONMENT_TEST: "test"}
ENVIRONMENT_VALUES: dict[str, int] = {name: value for value, name in ENVIRONMENTS.items()}
TOKEN_TYPES: dict[int, str] = {auth_pb2.TOKEN_TYPE_BEARER: "Bearer"}


def moment(message: Message, name: str) -> str | None:
    """An RFC 3339 timestamp (UTC, "Z"), or None when the field is unset."""
    return getattr(message, name).ToJsonString() if message.HasField(name) else None


def token_pair(reply: auth_pb2.TokenPair) -> dict[str, Any]:
    return {
        "access_token": reply.access_token,
        "refresh_token": reply.refresh_token,
        "expires_in": reply.expires_in,
        "token_type": TOKEN_TYPES.get(reply.token_type, "Bearer"),
    }


def principal(value: auth_pb2.Principal) -> dict[str, Any]:
    return {
        "kind": KINDS.get(value.kind, "unspecified"),
        "user_id": value.user_id,
        "workspace_id": value.workspace_id,
        "permissions": list(value.permissions),
        "session_id": value.session_id or None,
        "api_key_id": value.api_key_id or None,
        "expires_at": moment(value, "expires_at"),
        "environment": ENVIRONMENTS.get(value.environment),
    }


def identity_headers(value: auth_pb2.Principal) -> dict[str, str]:
    """The principal as the headers a gateway hands to the app behind it (forward auth).

    X-Auth-Environment only for API keys: gateways that copy these headers (nginx
    `auth_request_set` + `proxy_set_header`, Traefik `authResponseHeaders`) replace, or drop, what
    a client sent under the same name, so an absent header cannot be forged either.
    """
    headers = {
        "X-Auth-Subject": value.subject_id,
        "X-Auth-Kind": KINDS.get(value.kind, "unspecified"),
        "X-Auth-User": value.user_id,
        "X-Auth-Workspace": value.workspace_id,
        "X-Auth-Permissions": ",".join(value.permissions),
    }
    if value.environment in ENVIRONMENTS:
        headers["X-Auth-Environment"] = ENVIRONMENTS[value.environment]
    return headers


def jwk_set(reply: auth_pb2.GetJwksResponse) -> dict[str, Any]:
    """The public signing keys as a JWK set (RFC 7517 §5); never a private or symmetric key."""
    return {
        "keys": [
            {"kty": key.kty, "crv": key.crv, "x": key.x, "kid": key.kid, "alg": key.alg, "use": key.use}
            for key in reply.keys
        ]
    }


def api_key(value: auth_pb2.ApiKey) -> dict[str, Any]:
    return {
        "id": value.id,
        "name": value.name,
        "prefix": value.prefix,
        "permissions": list(value.permissions),
        "environment": ENVIRONMENTS.get(value.environment),
        "created_at": moment(value, "created_at"),
        "last_used_at": moment(value, "last_used_at"),
        "revoked_at": moment(value, "revoked_at"),
        "created_by": value.created_by,
        "created_by_key_id": value.created_by_key_id or None,
    }


def created_api_key(reply: auth_pb2.CreateApiKeyResponse) -> dict[str, Any]:
    return {**api_key(reply.api_key), "key": reply.secret}


def auth_settings(value: auth_pb2.AuthSettings) -> dict[str, Any]:
    return {"workspace_id": value.workspace_id, "access_token_ttl_seconds": value.access_token_ttl_seconds}


# The JSON Schemas of the shapes above, for the OpenAPI document.
def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(properties)}


_TEXT: dict[str, Any] = {"type": "string"}
_TEXTS: dict[str, Any] = {"type": "array", "items": _TEXT}
_MOMENT: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}
_API_KEY = {
    "id": _TEXT,
    "name": _TEXT,
    "prefix": {**_TEXT, "description": "The first characters of the key, never the secret"},
    "permissions": _TEXTS,
    "environment": {"type": "string", "enum": ["live", "test"]},
    "created_at": _MOMENT,
    "last_used_at": _MOMENT,
    "revoked_at": _MOMENT,
    "created_by": {**_TEXT, "description": "The user who created the key"},
    "created_by_key_id": {
        "type": ["string", "null"],
        "description": "The API key this key was created with, if any: revoking that key revokes this one",
    },
}
SCHEMAS: dict[str, Any] = {
    "Error": _object({"detail": _TEXT}),
    "Status": _object({"status": _TEXT}),
    "TokenPair": _object(
        {
            "access_token": _TEXT,
            "refresh_token": _TEXT,
            "expires_in": {"type": "integer", "description": "Seconds until the access token expires"},
            "token_type": {"type": "string", "enum": ["Bearer"]},
        }
    ),
    "Principal": _object(
        {
            "kind": {"type": "string", "enum": ["user", "api_key"]},
            "user_id": {**_TEXT, "description": "The user, or for an API key the user who created it"},
            "workspace_id": _TEXT,
            "permissions": _TEXTS,
            "session_id": {"type": ["string", "null"], "description": "Set for users"},
            "api_key_id": {"type": ["string", "null"], "description": "Set for API keys"},
            "expires_at": {**_MOMENT, "description": "When the access token expires; null for API keys"},
            "environment": {
                "type": ["string", "null"],
                "enum": ["live", "test", None],
                "description": "An API key's environment; null for users",
            },
        }
    ),
    "ApiKey": _object(_API_KEY),
    "NewApiKey": _object({**_API_KEY, "key": {**_TEXT, "description": "The key itself, shown this once"}}),
    "ApiKeyList": _object({"api_keys": {"type": "array", "items": {"$ref": "#/components/schemas/ApiKey"}}}),
    "AuthSettings": _object({"workspace_id": _TEXT, "access_token_ttl_seconds": {"type": "integer"}}),
    "JwkSet": _object(
        {
            "keys": {
                "type": "array",
                "description": "Ed25519 public keys (RFC 8037); empty while every key is HS256",
                "items": _object(
                    {
                        "kty": {"type": "string", "enum": ["OKP"]},
                        "crv": {"type": "string", "enum": ["Ed25519"]},
                        "x": {**_TEXT, "description": "The public key, base64url"},
                        "kid": {**_TEXT, "description": "Names the key in a token's header"},
                        "alg": {"type": "string", "enum": ["EdDSA"]},
                        "use": {"type": "string", "enum": ["sig"]},
                    }
                ),
            }
        }
    ),
}
