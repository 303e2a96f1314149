"""The credential a request presented, checked the one way every integration of the SDK checks it
(aiohttp middleware, FastAPI dependency, gRPC interceptor): at most one Authorization header or
metadata entry, a Bearer token in it, then AuthService's verdict."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from authsvc.client.client import AuthClient
from authsvc.client.errors import MALFORMED_AUTHORIZATION, NOT_AUTHENTICATED, AuthClientError
from authsvc.client.principal import Principal
from authsvc.domain.bearer import bearer_credentials


async def validate_presented(
    client: AuthClient, presented: Sequence[str], required: Sequence[str]
) -> Principal:
    """The principal behind `presented` (every Authorization value the request carried) holding
    `required`, or AuthClientError: INVALID_ARGUMENT for more than one value (which would count
    is ambiguous, so neither does, as at the facade), UNAUTHENTICATED for no Bearer token."""
    if len(presented) > 1:
        raise AuthClientError(grpc.StatusCode.INVALID_ARGUMENT, MALFORMED_AUTHORIZATION)
    token = bearer_credentials(presented[0] if presented else None)
    if token is None:
        raise AuthClientError(grpc.StatusCode.UNAUTHENTICATED, NOT_AUTHENTICATED)
    return await client.validate(token, required)
