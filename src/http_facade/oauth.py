"""The OAuth 2.0 endpoints for callers that speak the standards rather than our SDK: token
introspection (RFC 7662) at `POST /oauth2/introspect` and revocation (RFC 7009) at
`POST /oauth2/revoke`. Each is one AuthService call (IntrospectToken, RevokeToken).

They speak OAuth, not the rest of the API: form bodies (`application/x-www-form-urlencoded`:
`token`, optional `token_type_hint`), and errors as RFC 6749 §5.2 has them
(`{"error": "invalid_request" | "invalid_client" | ..., "error_description": ...}`).

Client authentication (RFC 6749 §2.3.1): HTTP Basic with an API key's id and secret, or
`Authorization: Bearer` with the key's secret (or, for revocation, an access token of the very
session being ended). AuthService decides what the credential is worth.
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from aiohttp import web

from authsvc.client.forward_auth_headers import ENVIRONMENTS, KINDS
from authsvc.v1 import auth_pb2
from http_facade import replies
from http_facade.forwarding import call_options, carriable
from http_facade.state import UPSTREAM

log = logging.getLogger(__name__)

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
FORM = "application/x-www-form-urlencoded"
MAX_PARAMETER_CHARS = 16384
BASIC_CHALLENGE = 'Basic realm="authsvc", charset="UTF-8"'

# AuthService's refusals in OAuth's words (RFC 6749 §5.2, RFC 7009 §2.2.1).
_ERRORS: dict[grpc.StatusCode, tuple[int, str, str]] = {
    grpc.StatusCode.INVALID_ARGUMENT: (400, "invalid_request", "The request is malformed"),
    grpc.StatusCode.UNAUTHENTICATED: (401, "invalid_client", "Client authentication failed"),
    grpc.StatusCode.PERMISSION_DENIED: (403, "unauthorized_client", "The client may not do this"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (429, "temporarily_unavailable", "Rate limit exceeded"),
    grpc.StatusCode.UNAVAILABLE: (503, "temporarily_unavailable", "Service unavailable"),
    grpc.StatusCode.DEADLINE_EXCEEDED: (504, "temporarily_unavailable", "Upstream timeout"),
}
_SERVER_ERROR = (500, "server_error", "Internal server error")


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str, headers: dict[str, str] | None = None):
        super().__init__(error)
        self.status, self.error, self.description = status, error, description
        self.headers = headers or {}

    def response(self) -> web.Response:
        body: replies.OAuthError = {"error": self.error, "error_description": self.description}
        return web.json_response(body, status=self.status, headers={**NO_STORE, **self.headers})


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _oauth_errors(handler: Handler) -> Handler:
    """Every failure of an OAuth endpoint as RFC 6749 §5.2 JSON, never the API's `{"detail"}`."""

    @functools.wraps(handler)
    async def answer(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except OAuthError as error:
            return error.response()
        except grpc.aio.AioRpcError as error:
            status, code, description = _ERRORS.get(error.code(), _SERVER_ERROR)
            if status >= 500:
                log.warning("AuthService call failed: %s %s", error.code().name, error.details())
            headers = {}
            if status == 401:
                headers["WWW-Authenticate"] = _challenge(request)
            elif status == 429:
                headers["Retry-After"] = "60"
            return OAuthError(status, code, description, headers).response()
        except web.HTTPRequestEntityTooLarge:
            return OAuthError(413, "invalid_request", "Request body too large").response()

    return answer


def _challenge(request: web.Request) -> str:
    """The WWW-Authenticate of a 401: the scheme the client tried (RFC 6749 §5.2), else Basic."""
    tried = request.headers.get("Authorization", "").partition(" ")[0].lower()
    return 'Bearer error="invalid_token"' if tried == "bearer" else BASIC_CHALLENGE


def _client(request: web.Request) -> tuple[str, str]:
    """The client's credential and, with HTTP Basic, the key id it named (RFC 6749 §2.3.1:
    both form-urlencoded, then joined by a colon, then base64)."""
    values = request.headers.getall("Authorization", ())
    if len(values) > 1:
        raise OAuthError(400, "invalid_request", "Repeated Authorization header")
    if not values:
        raise OAuthError(
            401, "invalid_client", "Client authentication is required", {"WWW-Authenticate": BASIC_CHALLENGE}
        )
    scheme, _, value = values[0].partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer" and value and carriable(value):
        return value, ""
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        client_id, colon, secret = decoded.partition(":")
        client_id, secret = urllib.parse.unquote_plus(client_id), urllib.parse.unquote_plus(secret)
        if colon and client_id and secret and carriable(secret) and len(client_id) <= 64:
            return secret, client_id
    raise OAuthError(
        401, "invalid_client", "Client authentication failed", {"WWW-Authenticate": _challenge(request)}
    )


async def _form(request: web.Request) -> tuple[str, str]:
    """`token` and `token_type_hint` of a form body; 400 `invalid_request` for anything else than
    one form with one non-empty token (RFC 6749 §3.2: no parameter twice)."""
    media = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if media != FORM:
        raise OAuthError(400, "invalid_request", f"The body must be {FORM}")
    try:
        text = (await request.read()).decode("ascii")  # percent-encoded: ASCII only
        pairs = urllib.parse.parse_qsl(text, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise OAuthError(400, "invalid_request", "The form is malformed") from None
    values: dict[str, str] = {}
    for name, value in pairs:
        if name in values:
            raise OAuthError(400, "invalid_request", f"{name} is repeated")
        values[name] = value
    token, hint = values.get("token", ""), values.get("token_type_hint", "")
    if not token:
        raise OAuthError(400, "invalid_request", "token is required")
    if len(token) > MAX_PARAMETER_CHARS or len(hint) > 64:
        raise OAuthError(400, "invalid_request", "A parameter is too long")
    return token, hint


def _options(request: web.Request, credential: str) -> dict[str, Any]:
    options = call_options(request)
    metadata = [(k, v) for k, v in options["metadata"] if k != "authorization"]
    options["metadata"] = (*metadata, ("authorization", f"Bearer {credential}"))
    return options


@_oauth_errors
async def introspect(request: web.Request) -> web.Response:
    """RFC 7662: `{"active": true, ...}` for a token ValidateToken accepts, else `{"active": false}`."""
    credential, client_id = _client(request)
    token, hint = await _form(request)
    reply = await request.app[UPSTREAM].auth.IntrospectToken(
        auth_pb2.IntrospectTokenRequest(token=token, token_type_hint=hint, client_id=client_id),
        **_options(request, credential),
    )
    return web.json_response(introspection(reply), headers=NO_STORE)


@_oauth_errors
async def revoke(request: web.Request) -> web.Response:
    """RFC 7009: 200 once the token's session has ended, or when there was nothing to end."""
    credential, client_id = _client(request)
    token, hint = await _form(request)
    reply = await request.app[UPSTREAM].auth.RevokeToken(
        auth_pb2.RevokeTokenRequest(token=token, token_type_hint=hint, client_id=client_id),
        **_options(request, credential),
    )
    if reply.outcome == auth_pb2.TOKEN_REVOCATION_UNSUPPORTED_TOKEN_TYPE:
        raise OAuthError(400, "unsupported_token_type", "API keys are revoked at /api/v1/api-keys/{id}")
    return web.Response(status=200, headers=NO_STORE)


def introspection(reply: auth_pb2.IntrospectTokenResponse) -> replies.Introspection:
    """RFC 7662 §2.2's members, and ours (`workspace_id`, `kind`...); only `active` when inactive."""
    if not reply.active:
        return {"active": False}
    principal = reply.principal
    answer: replies.Introspection = {
        "active": True,
        "scope": " ".join(principal.permissions),
        "sub": principal.subject_id,
        "token_type": "Bearer",
        "iss": reply.issuer,
        "workspace_id": principal.workspace_id,
        "user_id": principal.user_id,
        "kind": KINDS[principal.kind],
    }
    if principal.HasField("expires_at"):
        answer["exp"] = principal.expires_at.seconds
    if reply.HasField("issued_at"):
        answer["iat"] = reply.issued_at.seconds
    if reply.audience:
        answer["aud"] = reply.audience
    if principal.session_id:
        answer["session_id"] = principal.session_id
    if principal.api_key_id:
        answer["api_key_id"] = principal.api_key_id
        answer["api_key_name"] = principal.api_key_name
    if principal.environment in ENVIRONMENTS:
        answer["environment"] = ENVIRONMENTS[principal.environment]
    return answer
