"""The OpenAPI 3.1 description served at /openapi.json; a test keeps it true to the router."""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web

from http_facade import handlers, replies
from http_facade.bodies import Body

TITLE = "authsvc public REST API"
ERROR_TEXTS = {
    400: "Malformed request (JSON, fields, Authorization header) or a value AuthService refuses",
    401: 'Not authenticated: "Invalid credentials", "Token expired" or "Invalid or expired token"',
    403: '"Insufficient permissions"',
    404: "No such resource",
    413: "Request body over the size limit",
    415: "Content-Type is not application/json",
    429: '"Rate limit exceeded"; Retry-After says when to try again',
    500: "Internal server error",
    503: "AuthService or its database is unavailable: keep your credentials and retry",
    504: "AuthService did not answer in time",
}
# What any call on AuthService may answer: a malformed request or Authorization header, a rate
# limit, or AuthService failing, unreachable or late.
UPSTREAM_ERRORS = (400, 429, 500, 503, 504)


_REQUEST_ID = {"description": "The request's id, as sent or generated", "schema": {"type": "string"}}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _response(
    description: str,
    schema: dict[str, Any] | None = None,
    media_type: str = "application/json",
    **headers: Any,
) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "headers": {"X-Request-ID": _REQUEST_ID}}
    response["headers"].update(headers)
    if schema is not None:
        response["content"] = {media_type: {"schema": schema}}
    return response


_ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}},
    403: {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}},
    429: {"Retry-After": {"required": True, "schema": {"type": "integer", "minimum": 0}}},
}


def _operation(
    summary: str,
    success: tuple[int, str, dict[str, Any] | None],
    errors: tuple[int, ...] = (),
    body: Body | None = None,
    authed: bool = False,
    upstream: bool = True,
    query: tuple[dict[str, Any], ...] = (),
    success_headers: dict[str, Any] | None = None,
    media_type: str = "application/json",
) -> dict[str, Any]:
    status, description, schema = success
    responses = {str(status): _response(description, schema, media_type, **(success_headers or {}))}
    codes = {*errors, *(UPSTREAM_ERRORS if upstream else ()), *((401,) if authed else ())}
    for code in sorted(codes | ({413, 415} if body else set())):
        responses[str(code)] = _response(ERROR_TEXTS[code], _ref("Error"), **_ERROR_HEADERS.get(code, {}))
    operation: dict[str, Any] = {
        "summary": summary,
        "parameters": [
            {"name": "X-Request-ID", "in": "header", "required": False, "schema": {"type": "string"}},
            *query,
        ],
        "responses": responses,
        "security": [{"bearer": []}] if authed else [],
    }
    if body is not None:
        operation["requestBody"] = {"required": True, "content": _json(body.json_schema())}
    return operation


_KEY_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_PERMISSIONS = {
    "name": "permissions",
    "in": "query",
    "required": False,
    "description": "Permissions the token must hold, comma-separated (the parameter may repeat). "
    "Set by the gateway's configuration, never by a client header",
    "schema": {"type": "string"},
    "examples": {"one": {"value": "geofences:read"}, "two": {"value": "geofences:read,webhooks:write"}},
}
_IDENTITY = {
    "X-Auth-Subject": "The user id, or the API key id",
    "X-Auth-Kind": '"user" or "api_key"',
    "X-Auth-User": "The user, or for an API key the user who created it",
    "X-Auth-Workspace": "The workspace id",
    "X-Auth-Permissions": "Every permission held, comma-separated",
}
_IDENTITY_HEADERS = {
    name: {"required": True, "description": text, "schema": {"type": "string"}}
    for name, text in _IDENTITY.items()
} | {
    "X-Auth-Environment": {
        "required": False,
        "description": 'For API keys only: "live" or "test"',
        "schema": {"type": "string", "enum": ["live", "test"]},
    }
}
_VERIFY = _operation(
    "Forward auth for gateways (nginx auth_request, Traefik ForwardAuth): is the token good for "
    "these permissions? HEAD answers as GET does", (204, "Allowed; who the caller is, in headers", None),
    (400, 403), authed=True, query=(_PERMISSIONS,), success_headers=_IDENTITY_HEADERS,
)  # fmt: skip
PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/auth/login": {
        "post": _operation(
            "Log in with an email and password", (200, "A token pair", _ref("TokenPair")),
            (401,), body=handlers.LOGIN,
        ),
    },
    "/api/v1/auth/refresh": {
        "post": _operation(
            "Exchange a refresh token for a new pair (the old one is retired)",
            (200, "A token pair", _ref("TokenPair")), (401,), body=handlers.REFRESH,
        ),
    },
    "/api/v1/auth/logout": {
        "post": _operation("End the session of the access token", (204, "Logged out", None), authed=True),
    },
    "/api/v1/auth/me": {
        "get": _operation(
            "Who the access token or API key stands for", (200, "The principal", _ref("Principal")),
            authed=True,
        ),
    },
    "/api/v1/auth/verify": {
        "get": _VERIFY,
        "head": _VERIFY,
    },
    "/api/v1/auth/settings": {
        "get": _operation(
            "The workspace's authentication settings (workspace admins)",
            (200, "The settings", _ref("AuthSettings")), (403, 404), authed=True,
        ),
        "patch": _operation(
            "Change the workspace's access-token lifetime (workspace admins)",
            (200, "The settings", _ref("AuthSettings")), (403, 404), body=handlers.AUTH_SETTINGS, authed=True,
        ),
    },
    "/api/v1/api-keys": {
        "post": _operation(
            "Create an API key (api_keys:write); its secret is returned this once",
            (201, "The new key and its secret", _ref("NewApiKey")), (403,), body=handlers.NEW_API_KEY,
            authed=True,
        ),
        "get": _operation(
            "The workspace's API keys (api_keys:read), never their secrets",
            (200, "The keys", _ref("ApiKeyList")), (403,), authed=True,
        ),
    },
    "/api/v1/api-keys/{id}": {
        "parameters": [_KEY_ID],
        "delete": _operation(
            "Revoke an API key (api_keys:write)", (204, "Revoked", None), (403, 404), authed=True
        ),
    },
    "/healthz": {
        "get": _operation("Liveness: the process runs", (200, "Alive", _ref("Status")), upstream=False)
    },
    "/readyz": {
        "get": _operation(
            "Readiness: AuthService answers and its database is up", (200, "Ready", _ref("Status")), (503,),
            upstream=False,
        ),
    },
    "/.well-known/jwks.json": {
        "get": _operation(
            "The public keys of the EdDSA signing keys, for verifying access tokens offline",
            (200, "A JWK set", _ref("JwkSet")),
        ),
    },
    "/metrics": {
        "get": _operation(
            "The facade's Prometheus metrics", (200, "The text exposition format", {"type": "string"}),
            upstream=False, media_type="text/plain",
        ),
    },
    "/openapi.json": {
        "get": _operation("This document", (200, "The OpenAPI document", {"type": "object"}), upstream=False)
    },
}  # fmt: skip


@functools.cache
def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": "1.0.0"},
        "paths": PATHS,
        "components": {
            "schemas": replies.SCHEMAS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An access token (JWT) from login/refresh, or an API key",
                }
            },
        },
    }


async def serve(request: web.Request) -> web.Response:
    return web.json_response(document())
