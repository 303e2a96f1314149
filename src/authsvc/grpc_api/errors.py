"""The one table from AuthError codes to gRPC status codes, and the decorator that applies it."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc

from authsvc.domain.errors import AuthError, ErrorCode

log = logging.getLogger(__name__)

STATUS_FOR: dict[ErrorCode, grpc.StatusCode] = {
    ErrorCode.INVALID_CREDENTIALS: grpc.StatusCode.UNAUTHENTICATED,
    ErrorCode.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    ErrorCode.TOKEN_EXPIRED: grpc.StatusCode.UNAUTHENTICATED,
    ErrorCode.TOKEN_INVALID: grpc.StatusCode.UNAUTHENTICATED,
    ErrorCode.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    ErrorCode.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    ErrorCode.RATE_LIMITED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
}

Request = TypeVar("Request")
Response = TypeVar("Response")
Handler = Callable[[Any, Request, grpc.aio.ServicerContext[Any, Any]], Awaitable[Response]]


def maps_errors(handler: Handler[Request, Response]) -> Handler[Request, Response]:
    """AuthError → its status and user-facing detail; anything else → INTERNAL, logged, no detail."""

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Request, context: grpc.aio.ServicerContext[Any, Any]) -> Response:
        try:
            return await handler(self, request, context)
        except AuthError as error:
            await context.abort(STATUS_FOR[error.code], error.detail)
        except Exception:
            log.exception("unexpected error in %s", handler.__name__)
            await context.abort(grpc.StatusCode.INTERNAL, "Internal error")
        raise AssertionError("context.abort returned")  # pragma: no cover

    return wrapper
