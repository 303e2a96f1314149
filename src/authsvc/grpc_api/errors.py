"""The one table from AuthError codes to gRPC status codes, and the decorator every RPC runs in."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar, cast

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from authsvc.domain.errors import AuthError, ErrorCode
from authsvc.domain.plans import BudgetState
from authsvc.grpc_api.decoding import MALFORMED, UNDECODABLE
from authsvc.logs import REQUEST_ID
from authsvc.metrics import RPC_STATS

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
    ErrorCode.CONFLICT: grpc.StatusCode.ABORTED,  # 409 at the REST facade (AIP-193)
    ErrorCode.RATE_LIMITED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
}

# Each code's status and the status's name, in one lookup (Enum.name is slow on Python 3.11).
_OUTCOMES: dict[ErrorCode, tuple[grpc.StatusCode, str]] = {
    code: (status, status.name) for code, status in STATUS_FOR.items()
}
SERVICE = "authsvc.v1.AuthService"
_NO_REPLY = b""  # see grpc_api.encoded_replies.serialize
_SANE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
Request = TypeVar("Request")
Response = TypeVar("Response")
Handler = Callable[[Any, Request, grpc.aio.ServicerContext[Any, Any]], Awaitable[Response]]


def edge_call(handler: Handler[Request, Response]) -> Handler[Request, Response]:
    """Runs one RPC within its deadline and maps its outcome once.

    grpc.aio cancels the work when the client's deadline passes, so a transaction still open then
    rolls back instead of committing after the caller gave up (tests/faults shows it); database
    statements are bounded by the pool's command timeout whatever the deadline.
    AuthError → its status and user-facing detail; anything else → INTERNAL, logged, no detail;
    a request that did not decode → INVALID_ARGUMENT "Malformed request" (grpc_api.decoding).

    A refusal is answered with set_code/set_details and an empty reply (which gRPC clients
    discard on a non-OK status), not with context.abort: abort raises through grpcio, and cost
    ~30 us a refused call on our machines, the attacker's path (make bench, 3a-3c).
    """

    method = handler.__name__
    stats = RPC_STATS.method("unary", SERVICE, method)

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Request, context: grpc.aio.ServicerContext[Any, Any]) -> Response:
        request_id = CallRequestId(context)  # read only if a line is logged
        REQUEST_ID.set(request_id)
        started = time.perf_counter()
        code = "OK"
        try:
            if request is UNDECODABLE:
                raise AuthError(ErrorCode.INVALID_ARGUMENT, MALFORMED)
            return await handler(self, request, context)
        except asyncio.CancelledError:
            code = "CANCELLED"
            raise
        except AuthError as error:
            status, code = _OUTCOMES[error.code]
            if error.retry_after is not None:
                context.set_trailing_metadata(_trailers_of(error))
            context.set_code(status)
            context.set_details(error.detail)
            return cast(Response, _NO_REPLY)
        except Exception:
            code = "INTERNAL"
            log.exception("unexpected error in %s", method)
            await context.abort(grpc.StatusCode.INTERNAL, "Internal error")
        finally:
            request_id.end()
            stats.observe(code, time.perf_counter() - started)
        raise AssertionError("context.abort returned")  # pragma: no cover

    return wrapper


StreamHandler = Callable[[Any, Request, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[Response]]


def edge_stream(handler: StreamHandler[Request, Response]) -> StreamHandler[Request, Response]:
    """edge_call for a server-streaming RPC: the stream ends with the status its error maps to
    (through context.abort: a stream ends once, so its cost does not matter), INTERNAL (logged)
    for anything unexpected."""

    method = handler.__name__
    stats = RPC_STATS.method("server_stream", SERVICE, method)

    @functools.wraps(handler)
    async def wrapper(
        self: Any, request: Request, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Response]:
        request_id = CallRequestId(context)
        REQUEST_ID.set(request_id)
        started = time.perf_counter()
        code = "OK"
        failure: tuple[grpc.StatusCode, str] | None = None
        try:
            if request is UNDECODABLE:
                raise AuthError(ErrorCode.INVALID_ARGUMENT, MALFORMED)
            async for reply in handler(self, request, context):
                yield reply
        except asyncio.CancelledError:
            code = "CANCELLED"
            raise
        except AuthError as error:
            status, code = _OUTCOMES[error.code]
            failure = (status, error.detail)
        except Exception:
            code = "INTERNAL"
            log.exception("unexpected error in %s", method)
            failure = (grpc.StatusCode.INTERNAL, "Internal error")
        finally:
            request_id.end()
            stats.observe(code, time.perf_counter() - started)
        if failure is not None:
            await context.abort(*failure)

    return wrapper


def outcome_code(outcome: object) -> str:
    """The status name a ValidateToken call would have ended with, for a check's outcome."""
    if isinstance(outcome, AuthError):
        return _OUTCOMES[outcome.code][1]
    if isinstance(outcome, asyncio.CancelledError):
        return "CANCELLED"
    return "INTERNAL" if isinstance(outcome, BaseException) else "OK"


_last: list[tuple[tuple[object, ...], str, int, tuple[tuple[str, str | bytes], ...]]] = [((), "", 0, ())]


def _trailers_of(error: AuthError) -> tuple[tuple[str, str | bytes], ...]:
    """_retry_later for `error`; the last answer again when its states are the very same tuple
    (a spent key's refusals share one until anything changes: adapters.usage_leases), without
    hashing them."""
    limits, detail, wait, trailers = _last[0]
    if error.limits is limits and limits and error.detail == detail and error.retry_after == wait:
        return trailers
    seconds = error.retry_after or 0
    trailers = _retry_later(error.detail, seconds, error.limits)
    _last[0] = (error.limits, error.detail, seconds, trailers)
    return trailers


@functools.lru_cache(maxsize=4096)
def _retry_later(
    detail: str, seconds: int, limits: tuple[object, ...]
) -> tuple[tuple[str, str | bytes], ...]:
    """The trailing metadata of a RESOURCE_EXHAUSTED: the wait twice, as google.rpc.RetryInfo
    rich details (grpcio-status) and as plain `retry-after` for simple clients, and for a metered
    refusal the spent limit (the one that frees up last) as ratelimit-* metadata. Set on the
    context, not raised through context.abort, and cached: a spent key's refusals are a hot path
    too, and repeat the same states for a second (adapters.usage_leases)."""
    spent = [state for state in limits if isinstance(state, BudgetState) and state.remaining == 0]
    if not spent:
        return _rich_wait(detail, seconds)
    worst = max(spent, key=lambda state: state.reset_seconds)
    return (
        *_rich_wait(detail, seconds),
        ("ratelimit-policy", worst.policy),
        ("ratelimit-limit", str(worst.limit)),
        ("ratelimit-remaining", "0"),
        ("ratelimit-reset", str(worst.reset_seconds)),
    )


@functools.lru_cache(maxsize=4096)
def _rich_wait(detail: str, seconds: int) -> tuple[tuple[str, str | bytes], ...]:
    """The trailing metadata of a RESOURCE_EXHAUSTED with its wait; a handful of them repeat."""
    status = rpc_status.to_status(retry_status(detail, seconds))
    return (*status.trailing_metadata, ("retry-after", str(seconds)))


def retry_status(detail: str, seconds: int) -> status_pb2.Status:
    """RESOURCE_EXHAUSTED with a google.rpc.RetryInfo of `seconds`: a refused call's trailers, and
    a refused check's verdict in a ValidateTokens reply."""
    retry_info = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=seconds))
    packed = any_pb2.Any()
    packed.Pack(retry_info)
    return status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=detail, details=[packed])


class CallRequestId:
    """The request id of the call being handled, for the log lines written meanwhile: read from
    the call's metadata the first time a line is logged (most calls log nothing), then kept.

    Never read once the call has ended (`end`): grpc.aio's context then refers to released
    memory, and reading its metadata returns garbage rather than failing. Tasks the call started
    (a key's warm-up, the pool's reconnection) carry this object in their context and log long
    after; they see no id. (Found under load while PostgreSQL restarted: grpc logged "Invalid
    encoding" on garbage for each such line, each of those lines asked again, and the replica's
    event loop went round that loop instead of serving.)"""

    __slots__ = ("_context", "_value")

    def __init__(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        self._context: grpc.aio.ServicerContext[Any, Any] | None = context
        self._value: str | None = None

    def __call__(self) -> str | None:
        context, self._context = self._context, None  # read once; a line logged while reading sees None
        if context is not None:
            self._value = _request_id(context)
        return self._value

    def end(self) -> None:
        self._context = None


def _request_id(context: grpc.aio.ServicerContext[Any, Any]) -> str | None:
    try:
        metadata = context.invocation_metadata() or ()
    except Exception:
        return None
    for key, value in metadata:
        if key == "x-request-id" and isinstance(value, str) and _SANE_ID.match(value):
            return value
    return None
