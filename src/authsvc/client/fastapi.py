"""Authentication for a FastAPI service (the `fastapi` extra): a dependency per route that checks
the request's Bearer credential through AuthService and hands the handler a typed `Principal`.

    app = FastAPI()
    protect(app, AuthClient("authsvc:50051"))

    @app.get("/geofences")
    async def geofences(principal: Annotated[Principal, Depends(require("geofences:read"))]): ...

Routes without the dependency are public, as FastAPI routes are; `dependencies=[Depends(require(
...))]` on a router or the app protects all of its routes. Refusals are the public doc's JSON and
WWW-Authenticate, the same as the REST facade's and the aiohttp middleware's. `protect` checks the
routes when the app starts: the aiohttp/gRPC `@require` mark on an endpoint (which FastAPI never
reads) and `Depends(require)` without parentheses stop the start instead of leaving a route open.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, NoReturn

from fastapi import Depends, FastAPI, HTTPException
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.requests import HTTPConnection
from starlette.routing import Mount

from authsvc.client.client import AuthClient
from authsvc.client.errors import AuthClientError
from authsvc.client.http_errors import INTERNAL, refusal
from authsvc.client.presented import validate_presented
from authsvc.client.principal import Principal
from authsvc.client.requirements import checked_permissions, marked_requirements

__all__ = ["CurrentPrincipal", "check_routes", "protect", "require"]

_log = logging.getLogger("authsvc.client")
_STATE_KEY = "authsvc_client"
Dependency = Callable[[HTTPConnection], Coroutine[Any, Any, Principal]]


def protect(app: FastAPI, client: AuthClient) -> None:
    """Gives `app`'s `require(...)` dependencies their client, checks the routes when the app
    starts (`check_routes`) and closes `client` when it stops. Keeps the app's own lifespan."""
    setattr(app.state, _STATE_KEY, client)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(served: Any) -> AsyncIterator[Any]:
        check_routes(app)
        try:
            async with inner(served) as state:
                yield state
        finally:
            await client.close()

    app.router.lifespan_context = lifespan


def require(*permissions: str) -> Dependency:
    """A dependency answering the request's `Principal` once its credential is valid and holds
    every one of `permissions` (none: any valid credential). Use it as `Depends(require(...))`."""
    needed = checked_permissions(permissions, allow_none=True)

    async def principal(connection: HTTPConnection) -> Principal:
        client = getattr(connection.app.state, _STATE_KEY, None)
        if not isinstance(client, AuthClient):  # fail closed, and say what is missing
            _log.error("authsvc.client.fastapi.require used on an app without protect(app, client)")
            _refuse(500, INTERNAL, None)
        presented = connection.headers.getlist("authorization")
        try:
            return await validate_presented(client, presented, needed)
        except AuthClientError as error:
            _refuse(*refusal(error.code, error.detail, bool(presented)))

    principal.__qualname__ = principal.__name__ = f"require{needed!r}"
    return principal


# Any valid credential: `async def me(principal: CurrentPrincipal)`.
CurrentPrincipal = Annotated[Principal, Depends(require())]


def check_routes(app: FastAPI) -> None:
    """Refuses (RuntimeError) what would leave a route open while looking protected: the
    aiohttp/gRPC `@require(...)` mark on an endpoint, and `Depends(require)` (not called)."""
    for route in _routes(app.routes):
        if marked_requirements(route.endpoint) is not None:
            raise RuntimeError(
                f"@require on {route.endpoint.__qualname__} is never read by FastAPI: declare "
                "`principal: Annotated[Principal, Depends(require(...))]` from authsvc.client.fastapi"
            )
        for dependant in _dependants(route.dependant):
            if dependant.call is require:
                raise RuntimeError(
                    f"{route.endpoint.__qualname__} depends on `require` itself, which checks "
                    "nothing: write Depends(require('resource:action')) or Depends(require())"
                )


def _routes(routes: list[Any]) -> Iterator[APIRoute | APIWebSocketRoute]:
    for route in routes:
        if isinstance(route, APIRoute | APIWebSocketRoute):
            yield route
        elif isinstance(route, Mount) and isinstance(route.app, FastAPI):
            yield from _routes(route.app.routes)


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for inner in dependant.dependencies:
        yield from _dependants(inner)


def _refuse(code: int, detail: str, bearer: str | None) -> NoReturn:
    # On a WebSocket route too: servers with the ASGI denial-response extension (uvicorn) answer
    # the handshake with this very status, JSON body and challenge.
    raise HTTPException(code, detail, headers={"WWW-Authenticate": bearer} if bearer else None)
