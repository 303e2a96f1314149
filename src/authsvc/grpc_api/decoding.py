"""Requests that do not decode: INVALID_ARGUMENT with a fixed text, for every service served.

Left to grpcio, a request whose bytes are not its message (a string field that is not UTF-8, a
truncated varint...) is answered UNKNOWN with the parser's own message ("Unexpected <class
'google.protobuf.message.DecodeError'>: Error parsing message with type ...") and a traceback in
the log: internals for the caller, noise for the operator. Each deserializer here returns
UNDECODABLE instead of raising, and the method's behaviour answers it.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

log = logging.getLogger(__name__)
MALFORMED = "Malformed request"


class _Undecodable:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNDECODABLE"


UNDECODABLE: Any = _Undecodable()  # Any: it stands in for whatever message the method takes


def tolerant(parse: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    """`parse`, returning UNDECODABLE for bytes that are not its message."""

    def deserialize(raw: bytes) -> Any:
        try:
            return parse(raw)
        except Exception:  # DecodeError, or whatever else the parser makes of hostile bytes
            log.debug("a request did not decode")
            return UNDECODABLE

    return deserialize


def _refusing(behaviour: Callable[..., Any], streaming_reply: bool) -> Callable[..., Any]:
    """A unary-request behaviour that answers UNDECODABLE with INVALID_ARGUMENT."""
    if streaming_reply and inspect.isasyncgenfunction(behaviour):

        async def stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            if request is UNDECODABLE:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, MALFORMED)
            async for reply in behaviour(request, context):
                yield reply

        return stream

    # A unary reply, or a stream written with context.write (grpc_health's Watch): a coroutine.
    async def unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        if request is UNDECODABLE:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, MALFORMED)
        return await behaviour(request, context)

    return unary


def _refusing_stream(behaviour: Callable[..., Any]) -> Callable[..., Any]:
    """A stream-stream behaviour whose requests stop with INVALID_ARGUMENT at the first that does
    not decode (reflection's; no served method streams requests into one reply)."""

    async def checked(requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        async for request in requests:
            if request is UNDECODABLE:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, MALFORMED)
            yield request

    if inspect.isasyncgenfunction(behaviour):

        async def stream(requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            async for reply in behaviour(checked(requests, context), context):
                yield reply

        return stream

    async def written(requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        return await behaviour(checked(requests, context), context)

    return written


def safe(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    """The same method, with a tolerant deserializer and a behaviour that refuses what it could
    not decode."""
    if handler.request_deserializer is None:
        return handler
    changes: dict[str, Any] = {"request_deserializer": tolerant(handler.request_deserializer)}
    if handler.unary_unary is not None:
        changes["unary_unary"] = _refusing(handler.unary_unary, streaming_reply=False)
    elif handler.unary_stream is not None:
        changes["unary_stream"] = _refusing(handler.unary_stream, streaming_reply=True)
    elif handler.stream_stream is not None:
        changes["stream_stream"] = _refusing_stream(handler.stream_stream)
    else:  # stream-unary: no service served here has one; left as grpcio has it
        return handler
    return handler._replace(**changes)


class SafeGenericHandler(grpc.GenericRpcHandler):  # type: ignore[misc]
    """A generated service's generic handler, each of its methods made `safe` once."""

    def __init__(self, inner: grpc.GenericRpcHandler) -> None:
        self._inner = inner
        self._methods: dict[str, grpc.RpcMethodHandler | None] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method
        if method in self._methods:
            return self._methods[method]
        found = self._inner.service(handler_call_details)
        made = None if found is None else safe(found)
        if len(self._methods) < 1_000:  # method names come from callers: bounded
            self._methods[method] = made
        return made
