"""A grpc.aio server interceptor that authenticates every call and enforces permissions.

Permissions are declared next to the method (`@require(...)` on the servicer method or handler
function) or by full method name in `requirements`. A name in `requirements` that the server does
not serve is a start-up error (with `AuthInterceptor.server()`), never a method left open.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import grpc

from authsvc.client.client import AuthClient
from authsvc.client.errors import UNAVAILABLE, AuthClientError
from authsvc.client.presented import validate_presented
from authsvc.client.principal import Principal
from authsvc.client.requirements import checked_permissions, marked_requirements

_log = logging.getLogger("authsvc.client")
_PRINCIPAL: contextvars.ContextVar[Principal | None] = contextvars.ContextVar(
    "authsvc_principal", default=None
)
_METHOD_NAME = re.compile(r"^/[^/\s]+/[^/\s]+$")

# Health checks (Check and Watch) and server reflection answer without a credential, as load
# balancers, Kubernetes probes and grpcurl expect.
PUBLIC_BY_DEFAULT: tuple[str, ...] = (
    "/grpc.health.v1.Health/Check",
    "/grpc.health.v1.Health/Watch",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
)


def principal_of_call() -> Principal:
    """The principal of the call being handled (inside a method behind AuthInterceptor)."""
    principal = _PRINCIPAL.get()
    if principal is None:
        raise LookupError("not inside a call authenticated by AuthInterceptor")
    return principal


class _Details(NamedTuple):  # grpc.HandlerCallDetails, for looking a method up
    method: str
    invocation_metadata: tuple[tuple[str, str], ...]


class AuthInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Every call but those in `public` needs a valid Bearer credential (`authorization`
    metadata), unary and streaming alike. A method needs the permissions marked on it with
    `@require(...)`, plus those `requirements` lists for its full name ("/pkg.Service/Method");
    a method with neither needs `default`.

    Build the server with `server()` so that every name in `requirements` is checked against the
    methods the server serves when it starts. Given to `grpc.aio.server(interceptors=[...])`
    directly, the check happens at the first call instead, and a misnamed entry then refuses
    every call (UNAVAILABLE) and logs why: a typo never leaves a method open."""

    def __init__(
        self,
        client: AuthClient,
        requirements: Mapping[str, Sequence[str]] | None = None,
        default: Sequence[str] = (),
        public: Sequence[str] = PUBLIC_BY_DEFAULT,
    ) -> None:
        self._client = client
        self._requirements: dict[str, tuple[str, ...]] = {}
        for name, permissions in (requirements or {}).items():
            if not _METHOD_NAME.match(name):
                raise ValueError(
                    f"requirements: {name!r} is not a full method name like '/pkg.Service/Method'"
                )
            self._requirements[name] = checked_permissions(permissions)
        self._default = checked_permissions(default, allow_none=True)
        self._public = frozenset(public)
        self._checked: asyncio.Future[str | None] | None = None

    def server(self, **options: Any) -> ProtectedServer:
        """`grpc.aio.server(**options)` with this interceptor first, checked when it starts.
        Call it inside the running event loop (grpc.aio servers belong to the loop they are made in)."""
        interceptors = [self, *options.pop("interceptors", ())]
        return ProtectedServer(grpc.aio.server(interceptors=interceptors, **options), self)

    def unknown_methods(self, serves: Callable[[str], bool]) -> list[str]:
        """The names in `requirements` for which `serves(name)` is false."""
        return sorted(name for name in self._requirements if not serves(name))

    async def intercept_service(
        self,
        continuation: Callable[[Any], Awaitable[Any]],
        handler_call_details: Any,
    ) -> Any:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method in self._public:
            return handler
        misnamed = await self._misnamed(continuation, type(handler_call_details))
        behaviour = (
            handler.unary_unary or handler.unary_stream or handler.stream_unary or handler.stream_stream
        )
        marked = marked_requirements(behaviour)
        listed = self._requirements.get(method)
        required = self._default
        if marked is not None or listed is not None:
            required = (*(marked or ()), *(listed or ()))
        return _authenticated(handler, behaviour, self._client, required, refuse=misnamed is not None)

    async def _misnamed(self, continuation: Callable[[Any], Awaitable[Any]], details: type) -> str | None:
        """For an interceptor not given to `server()`: the requirement names the server does not
        serve, looked up once through the server's own handler lookup (`continuation`, with call
        details of the type grpc gave this call: its lookup takes no other)."""
        if self._checked is None:
            self._checked = asyncio.get_running_loop().create_future()
            unknown = [name for name in self._requirements if await continuation(details(name, ())) is None]
            message = _unknown_message(unknown) if unknown else None
            if message:
                _log.error("%s: refusing every call until this is fixed", message)
            self._checked.set_result(message)
        return await asyncio.shield(self._checked)


class ProtectedServer:
    """A grpc.aio server whose `start()` first checks the interceptor's requirements against the
    methods registered on it. Everything else is the server's own."""

    def __init__(self, server: grpc.aio.Server, interceptor: AuthInterceptor) -> None:
        self._server = server
        self._interceptor = interceptor
        self._registered: set[str] = set()
        self._generic: list[grpc.GenericRpcHandler] = []

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        self._generic.extend(handlers)
        self._server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler]
    ) -> None:
        self._registered.update(f"/{service}/{method}" for method in handlers)
        self._server.add_registered_method_handlers(service, handlers)

    def serves(self, method: str) -> bool:
        if method in self._registered:
            return True
        details = _Details(method, ())
        return any(handler.service(details) is not None for handler in self._generic)

    async def start(self) -> None:
        unknown = self._interceptor.unknown_methods(self.serves)
        if unknown:
            raise ValueError(_unknown_message(unknown))
        self._interceptor._checked = asyncio.get_running_loop().create_future()
        self._interceptor._checked.set_result(None)
        await self._server.start()

    def __getattr__(self, name: str) -> Any:  # add_insecure_port, stop, wait_for_termination...
        return getattr(self._server, name)


def _unknown_message(unknown: Iterable[str]) -> str:
    names = ", ".join(unknown)
    return f"AuthInterceptor requirements name methods this server does not serve: {names}"


def _authenticated(
    handler: Any, behaviour: Any, client: AuthClient, required: tuple[str, ...], *, refuse: bool
) -> Any:
    """`handler` with the credential checked before `behaviour` runs (`refuse`: every call fails)."""

    async def principal(context: Any) -> Principal:
        if refuse:
            await context.abort(grpc.StatusCode.UNAVAILABLE, UNAVAILABLE)
        presented = [value for key, value in context.invocation_metadata() or () if key == "authorization"]
        try:
            return await validate_presented(client, presented, required)
        except AuthClientError as error:
            await context.abort(error.code, error.detail)
            raise  # abort raises; this line keeps type checkers sure

    if handler.unary_unary is not None or handler.stream_unary is not None:

        async def unary_answer(request: Any, context: Any) -> Any:
            reset = _PRINCIPAL.set(await principal(context))
            try:
                return await behaviour(request, context)
            finally:
                _PRINCIPAL.reset(reset)

        wrapped: Any = unary_answer
    elif inspect.isasyncgenfunction(behaviour) or not inspect.iscoroutinefunction(behaviour):

        async def streamed_answer(request: Any, context: Any) -> AsyncIterator[Any]:
            _PRINCIPAL.set(await principal(context))  # this generator runs in the call's own task
            async for reply in behaviour(request, context):
                yield reply

        wrapped = streamed_answer
    else:  # a streaming method that writes with context.write() and returns None

        async def written_answer(request: Any, context: Any) -> None:
            _PRINCIPAL.set(await principal(context))
            await behaviour(request, context)

        wrapped = written_answer

    factory = (
        grpc.unary_unary_rpc_method_handler
        if handler.unary_unary is not None
        else grpc.unary_stream_rpc_method_handler
        if handler.unary_stream is not None
        else grpc.stream_unary_rpc_method_handler
        if handler.stream_unary is not None
        else grpc.stream_stream_rpc_method_handler
    )
    return factory(
        wrapped,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )
