"""Calling authsvc from an internal service: an async client, a gRPC interceptor, an aiohttp
middleware (and, with the `fastapi` extra, FastAPI dependencies in `authsvc.client.fastapi`).

async with AuthClient("authsvc:50051") as auth:
    principal = await auth.validate(token, ["geofences:read"])
"""

from authsvc.client.aiohttp_middleware import auth_middleware, check_routes, current_principal, protect
from authsvc.client.client import AuthClient
from authsvc.client.errors import AuthClientError
from authsvc.client.grpc_interceptor import AuthInterceptor, ProtectedServer, principal_of_call
from authsvc.client.principal import Principal
from authsvc.client.requirements import require
from authsvc.client.rest import PublicApiClient

__all__ = [
    "AuthClient",
    "AuthClientError",
    "AuthInterceptor",
    "Principal",
    "ProtectedServer",
    "PublicApiClient",
    "auth_middleware",
    "check_routes",
    "current_principal",
    "principal_of_call",
    "protect",
    "require",
]
