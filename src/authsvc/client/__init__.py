"""Calling authsvc from an internal service: an async client, a gRPC interceptor, an aiohttp middleware.

async with AuthClient("authsvc:50051") as auth:
    principal = await auth.validate(token, ["geofences:read"])
"""

from authsvc.client.aiohttp_middleware import auth_middleware, current_principal, require
from authsvc.client.client import AuthClient
from authsvc.client.errors import AuthClientError
from authsvc.client.grpc_interceptor import AuthInterceptor, principal_of_call
from authsvc.client.rest import PublicApiClient

__all__ = [
    "AuthClient",
    "AuthClientError",
    "AuthInterceptor",
    "PublicApiClient",
    "auth_middleware",
    "current_principal",
    "principal_of_call",
    "require",
]
