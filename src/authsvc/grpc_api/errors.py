"""The one table from AuthError codes to gRPC status codes, and the decorator every RPC runs in."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from authsvc.domain.errors import AuthError, ErrorCode
from authsvc.logs import REQUEST_ID
from authsvc.metrics import HANDLED, HANDLING_SECONDS

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

SERVICE = "authsvc.v1.AuthService"
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
Request = TypeVar("Request")
Response = TypeVar("Response")
Handler = Callable[[Any, Request, grpc.aio.ServicerContext[Any, Any]], Awaitable[Response]]


def edge_call(handler: Handler[Request, Response]) -> Handler[Request, Response]:
    """Runs one RPC within its deadline and maps its outcome once.

    grpc.aio cancels the work when the client's deadline passes, so a transaction still open then
    rolls back instead of committing after the caller gave up (tests/faults shows it); database
    statements are bounded by the pool's command timeout whatever the deadline.
    AuthError → its status and user-facing detail; anything else → INTERNAL, logged, no detail.
    """

    method = handler.__name__
    handled = {code: HANDLED.labels("unary", SERVICE, method, code.name) for code in grpc.StatusCode}
    timing = HANDLING_SECONDS.labels("unary", SERVICE, method)

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Request, context: grpc.aio.ServicerContext[Any, Any]) -> Response:
        REQUEST_ID.set(_request_id(context))
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            return await handler(self, request, context)
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        except AuthError as error:
            code = STATUS_FOR[error.code]
            if error.retry_after is not None:
                await _abort_retry_later(context, error.detail, error.retry_after)
            await context.abort(code, error.detail)
        except Exception:
            code = grpc.StatusCode.INTERNAL
            log.exception("unexpected error in %s", method)
            await context.abort(code, "Internal error")
        finally:
            handled[code].inc()
            timing.observe(time.perf_counter() - started)
        raise AssertionError("context.abort returned")  # pragma: no cover

    return wrapper


async def _abort_retry_later(context: grpc.aio.ServicerContext[Any, Any], detail: str, seconds: int) -> None:
    """RESOURCE_EXHAUSTED carrying the wait twice: as google.rpc.RetryInfo rich details
    (grpcio-status) and as plain `retry-after` trailing metadata for simple clients."""
    retry_info = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=seconds))
    packed = any_pb2.Any()
    packed.Pack(retry_info)
    rich = status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=detail, details=[packed])
    status = rpc_status.to_status(rich)
    trailers = (*status.trailing_metadata, ("retry-after", str(seconds)))
    await context.abort(status.code, status.details, trailers)


def _request_id(context: grpc.aio.ServicerContext[Any, Any]) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "x-request-id" and isinstance(value, str) and _SANE_ID.match(value):
            return value
    return None
