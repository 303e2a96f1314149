"""An aiohttp middleware that authenticates requests through AuthService and enforces permissions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web

from authsvc.client.client import AuthClient
from authsvc.client.errors import AuthClientError
from authsvc.client.http_errors import bearer_challenge, outcome
from authsvc.domain.bearer import bearer_credentials
from authsvc.v1 import auth_pb2

PRINCIPAL_KEY = web.RequestKey("authsvc.principal", auth_pb2.Principal)
_REQUIRED = "__authsvc_required__"
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
            # The REST facade's table (http_errors): a service behind this middleware and the
            # public API answer the same failures alike.
            mapped = outcome(error.code)
            detail = mapped.text(error.detail)
            challenge = None
            if mapped.status == 401:
                challenge = bearer_challenge("invalid_token", detail)
            elif mapped.status == 403:
                challenge = bearer_challenge("insufficient_scope", detail)
            return _refusal(mapped.status, detail, challenge)
        request[PRINCIPAL_KEY] = principal
        return await handler(request)

    return middleware


def _refusal(status: int, detail: str, challenge: str | None) -> web.Response:
    headers = {"WWW-Authenticate": challenge} if challenge else None
    return web.json_response({"detail": detail}, status=status, headers=headers)
