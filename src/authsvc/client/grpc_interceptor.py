"""A grpc.aio server interceptor that authenticates every call and enforces permissions."""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import grpc

from authsvc.client.client import AuthClient
from authsvc.client.errors import AuthClientError
from authsvc.domain.bearer import bearer_credentials
from authsvc.v1 import auth_pb2

_PRINCIPAL: contextvars.ContextVar[auth_pb2.Principal | None] = contextvars.ContextVar(
    "authsvc_principal", default=None
)


def principal_of_call() -> auth_pb2.Principal:
    """The principal of the call being handled (inside a method behind AuthInterceptor)."""
    principal = _PRINCIPAL.get()
    if principal is None:
        raise LookupError("not inside a call authenticated by AuthInterceptor")
    return principal


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """`requirements` maps full method names ("/pkg.Service/Method") to the permissions they need;
    other methods need `default` (no permission, but still a valid token). Methods in `public`
    (health checks, say) are not authenticated at all. Streaming methods that are not public are
    refused: only unary calls are authenticated."""

    def __init__(
        self,
        client: AuthClient,
        requirements: Mapping[str, Sequence[str]] | None = None,
        default: Sequence[str] = (),
        public: Sequence[str] = ("/grpc.health.v1.Health/Check",),
    ) -> None:
        self._client = client
        self._requirements = dict(requirements or {})
        self._default = tuple(default)
        self._public = frozenset(public)

    async def intercept_service(
        self,
        continuation: Callable[[Any], Awaitable[Any]],
        handler_call_details: Any,
    ) -> Any:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method in self._public:
            return handler
        if handler.unary_unary is None:
            return _refuse_streaming(handler)
        required = self._requirements.get(method, self._default)
        behaviour = handler.unary_unary
        client = self._client

        async def authenticated(request: Any, context: Any) -> Any:
            metadata = dict(context.invocation_metadata() or ())
            token = bearer_credentials(metadata.get("authorization"))
            try:
                if token is None:
                    raise AuthClientError(grpc.StatusCode.UNAUTHENTICATED, "Not authenticated")
                principal = await client.validate(token, required)
            except AuthClientError as error:
                await context.abort(error.code, error.detail)
            reset = _PRINCIPAL.set(principal)
            try:
                return await behaviour(request, context)
            finally:
                _PRINCIPAL.reset(reset)

        return grpc.unary_unary_rpc_method_handler(
            authenticated,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _refuse_streaming(handler: Any) -> Any:
    """Streaming methods are not covered: refused (PERMISSION_DENIED) unless listed as public,
    never passed through unauthenticated."""

    async def refuse(request_or_iterator: Any, context: Any) -> Any:
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, "Streaming calls are not authenticated here")

    factory = (
        grpc.unary_stream_rpc_method_handler
        if handler.unary_stream is not None
        else grpc.stream_unary_rpc_method_handler
        if handler.stream_unary is not None
        else grpc.stream_stream_rpc_method_handler
    )
    return factory(
        refuse,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
