"""An aiohttp middleware that authenticates requests through AuthService and enforces permissions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from aiohttp import web

from authsvc.client.client import AuthClient
from authsvc.client.errors import AuthClientError
from authsvc.domain.bearer import bearer_credentials
from authsvc.v1 import auth_pb2

PRINCIPAL_KEY = web.RequestKey("authsvc.principal", auth_pb2.Principal)
_REQUIRED = "__authsvc_required__"
_STATUS = {
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
# What the REST facade says for the same failures (http_facade.errors), so that a service behind
# this middleware and the public API word them alike.
_FAILURE_DETAIL = {504: "Upstream timeout", 503: "Service unavailable"}
Handler = TypeVar("Handler", bound=Callable[..., Awaitable[web.StreamResponse]])


def require(*permissions: str) -> Callable[[Handler], Handler]:
    """Marks a handler as needing every one of `permissions`."""

    def mark(handler: Handler) -> Handler:
        setattr(handler, _REQUIRED, tuple(permissions))
        return handler

    return mark


def current_principal(request: web.Request) -> auth_pb2.Principal:
    return request[PRINCIPAL_KEY]


def auth_middleware(client: AuthClient, public_paths: frozenset[str] = frozenset()) -> Any:
    """Every request outside `public_paths` needs a valid Bearer token (JWT or API key); handlers
    marked with `require(...)` also need those permissions. Refusals are the public doc's JSON."""

    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path in public_paths:
            return await handler(request)
        token = bearer_credentials(request.headers.get("Authorization"))
        if token is None:
            return _refusal(401, "Not authenticated", 'Bearer realm="api"')
        try:
            principal = await client.validate(token, getattr(handler, _REQUIRED, ()))
        except AuthClientError as error:
            status = _STATUS.get(error.code, 503)
            challenge = None
            if status == 401:
                challenge = 'Bearer error="invalid_token"'
            elif status == 403:
                challenge = 'Bearer error="insufficient_scope"'
            detail = error.detail if status in (401, 403, 429) else _FAILURE_DETAIL[status]
            return _refusal(status, detail, challenge)
        request[PRINCIPAL_KEY] = principal
        return await handler(request)

    return middleware


def _refusal(status: int, detail: str, challenge: str | None) -> web.Response:
    headers = {"WWW-Authenticate": challenge} if challenge else None
    return web.json_response({"detail": detail}, status=status, headers=headers)
