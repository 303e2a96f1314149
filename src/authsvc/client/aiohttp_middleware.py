"""Authentication for an aiohttp service: every request through AuthService, permissions per route.

    protect(app, AuthClient("authsvc:50051"), public_paths={"/healthz"})

Permissions are read from the route's own handler (`request.match_info.handler`), whatever
middlewares wrap it, so every way aiohttp declares a route is covered: functions, `RouteTableDef`,
class-based `web.View` (a mark on the class, on its `get`/`post`... or both), `functools.partial`,
sub-applications. `protect` also checks the routes when the app starts: a mark that would never be
read (on a view method that is not an HTTP method) stops the start instead of leaving a route open.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any

from aiohttp import hdrs, web
from aiohttp.abc import AbstractView

from authsvc.client.client import AuthClient
from authsvc.client.errors import AuthClientError
from authsvc.client.http_errors import refusal
from authsvc.client.presented import validate_presented
from authsvc.client.principal import Principal
from authsvc.client.requirements import marked_requirements, require

__all__ = ["PRINCIPAL_KEY", "auth_middleware", "check_routes", "current_principal", "protect", "require"]

PRINCIPAL_KEY = web.RequestKey("authsvc.principal", Principal)
_VIEW_METHODS = frozenset(method.lower() for method in hdrs.METH_ALL)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def current_principal(request: web.Request) -> Principal:
    """Who the request comes from (in a handler behind the middleware)."""
    return request[PRINCIPAL_KEY]


def protect(app: web.Application, client: AuthClient, public_paths: Iterable[str] = ()) -> None:
    """Installs the middleware on `app`, checks its routes when it starts (`check_routes`), and
    closes `client` when it stops."""
    app.middlewares.append(auth_middleware(client, frozenset(public_paths)))

    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        check_routes(app)
        yield
        await client.close()

    app.cleanup_ctx.append(lifetime)


def auth_middleware(client: AuthClient, public_paths: frozenset[str] = frozenset()) -> Any:
    """Every request outside `public_paths` needs a valid Bearer token (JWT or API key); routes
    marked with `require(...)` also need those permissions. Refusals are the public doc's JSON."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in public_paths:
            return await handler(request)
        presented = request.headers.getall(hdrs.AUTHORIZATION, ())
        try:
            principal = await validate_presented(client, presented, required_by(request))
        except AuthClientError as error:
            # The REST facade's table (http_errors): a service behind this middleware and the
            # public API answer the same failures alike, WWW-Authenticate included.
            return _refusal(*refusal(error.code, error.detail, bool(presented)))
        request[PRINCIPAL_KEY] = principal
        return await handler(request)

    return middleware


def required_by(request: web.Request) -> tuple[str, ...]:
    """The permissions the route serving `request` is marked with."""
    handler = request.match_info.handler
    view_method = request.method.lower() if _is_view(handler) else None
    return marked_requirements(handler, view_method) or ()


def check_routes(app: web.Application) -> None:
    """Refuses (RuntimeError) marks the middleware would never read: `@require` on a view's
    attribute that is not an HTTP method (`def gett`, a helper), in `app` and its sub-apps."""
    for handler in _handlers(app):
        if not _is_view(handler):
            continue
        for name, attribute in inspect.getmembers(handler):
            if name.lower() in _VIEW_METHODS or name.startswith("__"):
                continue
            if callable(attribute) and marked_requirements(attribute) is not None:
                raise RuntimeError(
                    f"@require on {handler.__qualname__}.{name} is never enforced: only the view's "
                    f"HTTP methods ({', '.join(sorted(_VIEW_METHODS))}) serve requests"
                )


def _handlers(app: web.Application) -> Iterator[Any]:
    for resource in app.router.resources():
        sub_app = resource.get_info().get("app")
        if isinstance(sub_app, web.Application):
            yield from _handlers(sub_app)
        for route in resource:
            yield route.handler


def _is_view(handler: Any) -> bool:
    return inspect.isclass(handler) and issubclass(handler, AbstractView)


def _refusal(status: int, detail: str, challenge: str | None) -> web.Response:
    headers = {hdrs.WWW_AUTHENTICATE: challenge} if challenge else None
    return web.json_response({"detail": detail}, status=status, headers=headers)
