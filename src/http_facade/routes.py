"""The public paths and their handlers, registered on the router."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from http_facade import handlers, metrics, openapi


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]


ROUTES = (
    Route("POST", "/api/v1/auth/login", handlers.login),
    Route("POST", "/api/v1/auth/refresh", handlers.refresh),
    Route("POST", "/api/v1/auth/logout", handlers.logout),
    Route("GET", "/api/v1/auth/me", handlers.me),
    Route("GET", "/api/v1/auth/verify", handlers.verify),
    Route("HEAD", "/api/v1/auth/verify", handlers.verify),  # some gateways ask with the client's method
    Route("GET", "/api/v1/auth/settings", handlers.get_auth_settings),
    Route("PATCH", "/api/v1/auth/settings", handlers.update_auth_settings),
    Route("POST", "/api/v1/api-keys", handlers.create_api_key),
    Route("GET", "/api/v1/api-keys", handlers.list_api_keys),
    Route("DELETE", "/api/v1/api-keys/{id}", handlers.revoke_api_key),
    Route("GET", "/healthz", handlers.healthz),
    Route("GET", "/readyz", handlers.readyz),
    Route("GET", "/.well-known/jwks.json", handlers.jwks),
    Route("GET", "/metrics", metrics.serve),
    Route("GET", "/openapi.json", openapi.serve),
)


def add_routes(app: web.Application) -> None:
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
