"""authsvc.client for grpc.aio services: requirements next to the method or by name (a misnamed
one stops the start), every kind of method authenticated, health and reflection public. Real
servers and channels throughout."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

from authsvc.client import AuthClient, AuthInterceptor, principal_of_call, require
from tests.conftest import AccountFactory, Running
from tests.integration.test_client_sdk import _key
from tests.support.addresses import free_port
from tests.support.grpc_client import bearer

SERVICE = "demo.Geofences"


def _who() -> bytes:
    return f"{principal_of_call().kind}:{principal_of_call().subject_id}".encode()


@require("geofences:read")
class Servicer:
    """A servicer as generated code has them: bound methods, marks next to each."""

    async def List(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return _who()

    @require("geofences:write")
    async def Create(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return _who()

    async def Delete(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return _who()  # needs geofences:admin... by name, in `requirements`

    async def Watch(self, request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        for _ in range(3):
            yield _who()

    async def Written(self, request: bytes, context: grpc.aio.ServicerContext) -> None:
        await context.write(_who())  # a streaming method that writes instead of yielding

    async def Upload(self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> bytes:
        return b"%d:" % len([r async for r in requests]) + _who()

    async def Chat(
        self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        async for request in requests:
            yield request + b"@" + _who()


def _handlers(servicer: Servicer) -> dict[str, grpc.RpcMethodHandler]:
    return {
        "List": grpc.unary_unary_rpc_method_handler(servicer.List),
        "Create": grpc.unary_unary_rpc_method_handler(servicer.Create),
        "Delete": grpc.unary_unary_rpc_method_handler(servicer.Delete),
        "Watch": grpc.unary_stream_rpc_method_handler(servicer.Watch),
        "Written": grpc.unary_stream_rpc_method_handler(servicer.Written),
        "Upload": grpc.stream_unary_rpc_method_handler(servicer.Upload),
        "Chat": grpc.stream_stream_rpc_method_handler(servicer.Chat),
    }


@pytest.fixture
async def channel(authsvc: Running) -> AsyncIterator[grpc.aio.Channel]:
    auth = AuthInterceptor(
        AuthClient(f"127.0.0.1:{authsvc.port}", cache_seconds=0),
        requirements={f"/{SERVICE}/Delete": ["workspace:admin"]},
    )
    server = auth.server()
    server.add_registered_method_handlers(SERVICE, _handlers(Servicer()))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection((SERVICE, reflection.SERVICE_NAME, "grpc.health.v1.Health"), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as open_channel:
        yield open_channel
    await server.stop(None)


async def _code(call: object) -> grpc.StatusCode:
    try:
        if hasattr(call, "__aiter__"):
            async for _ in call:  # type: ignore[attr-defined]
                pass
        else:
            await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def test_requirements_next_to_the_method_and_by_name_are_enforced(
    channel: grpc.aio.Channel, authsvc: Running, make_account: AccountFactory
) -> None:
    reader = await _key(authsvc, make_account, ["geofences:read"])
    writer = await _key(authsvc, make_account, ["geofences:read", "geofences:write"])
    other = await _key(authsvc, make_account, ["webhooks:read"])
    admin_key = await _key(authsvc, make_account, ["geofences:read", "workspace:admin"])

    def call(method: str, key: str | None) -> object:
        return channel.unary_unary(f"/{SERVICE}/{method}")(b"", metadata=bearer(key) if key else ())

    assert (await call("List", reader)).startswith(b"api_key:")  # type: ignore[misc]
    cases = [
        ("List", None, grpc.StatusCode.UNAUTHENTICATED),
        ("List", "sf_live_nonsense", grpc.StatusCode.UNAUTHENTICATED),
        ("List", other, grpc.StatusCode.PERMISSION_DENIED),  # the class's mark
        ("Create", reader, grpc.StatusCode.PERMISSION_DENIED),  # the method's mark, added to the class's
        ("Create", writer, grpc.StatusCode.OK),
        ("Delete", writer, grpc.StatusCode.PERMISSION_DENIED),  # named in `requirements`
        ("Delete", admin_key, grpc.StatusCode.OK),
    ]
    for method, key, expected in cases:
        assert await _code(call(method, key)) == expected, (method, expected)
    twice = (*bearer(writer), *bearer(other))  # which would count is ambiguous: neither does
    listing = channel.unary_unary(f"/{SERVICE}/List")(b"", metadata=twice)
    assert await _code(listing) == grpc.StatusCode.INVALID_ARGUMENT


async def test_streaming_methods_are_authenticated_not_refused(
    channel: grpc.aio.Channel, authsvc: Running, make_account: AccountFactory
) -> None:
    reader = await _key(authsvc, make_account, ["geofences:read"])
    other = await _key(authsvc, make_account, ["webhooks:read"])
    subject = f"api_key:{(await AuthClient(f'127.0.0.1:{authsvc.port}').validate(reader)).subject_id}"

    async def requests() -> AsyncIterator[bytes]:
        for part in (b"a", b"b"):
            yield part

    watch = channel.unary_stream(f"/{SERVICE}/Watch")
    assert [reply async for reply in watch(b"", metadata=bearer(reader))] == [subject.encode()] * 3
    written = channel.unary_stream(f"/{SERVICE}/Written")
    assert [reply async for reply in written(b"", metadata=bearer(reader))] == [subject.encode()]
    upload = channel.stream_unary(f"/{SERVICE}/Upload")
    assert await upload(requests(), metadata=bearer(reader)) == b"2:" + subject.encode()
    chat = channel.stream_stream(f"/{SERVICE}/Chat")
    replies = [reply async for reply in chat(requests(), metadata=bearer(reader))]
    assert replies == [b"a@" + subject.encode(), b"b@" + subject.encode()]

    async def nothing() -> AsyncIterator[bytes]:
        # Refused calls send no request: grpc.aio's client reports INTERNAL instead of the
        # server's status when one of its writes lands after the server ended the call
        # (grpc/grpc#36066), which no server can prevent.
        for part in ():
            yield part

    for method, kind in (("Watch", "us"), ("Written", "us"), ("Upload", "su"), ("Chat", "ss")):
        for metadata, expected in (
            ((), grpc.StatusCode.UNAUTHENTICATED),
            (bearer(other), grpc.StatusCode.PERMISSION_DENIED),
        ):
            if kind == "us":
                call: object = channel.unary_stream(f"/{SERVICE}/{method}")(b"", metadata=metadata)
            elif kind == "su":
                call = channel.stream_unary(f"/{SERVICE}/{method}")(nothing(), metadata=metadata)
            else:
                call = channel.stream_stream(f"/{SERVICE}/{method}")(nothing(), metadata=metadata)
            assert await _code(call) == expected, (method, expected)


async def test_health_check_watch_and_reflection_need_no_credential(channel: grpc.aio.Channel) -> None:
    health_stub = health_pb2_grpc.HealthStub(channel)
    checked = await health_stub.Check(health_pb2.HealthCheckRequest())
    assert checked.status == health_pb2.HealthCheckResponse.SERVING
    watched = health_stub.Watch(health_pb2.HealthCheckRequest())
    first = await watched.read()
    assert first.status == health_pb2.HealthCheckResponse.SERVING
    watched.cancel()

    reflect = reflection_pb2_grpc.ServerReflectionStub(channel)

    async def ask() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    answers = [answer async for answer in reflect.ServerReflectionInfo(ask())]
    listed = {service.name for service in answers[0].list_services_response.service}
    assert SERVICE in listed


async def test_a_requirement_naming_no_served_method_stops_the_start(authsvc: Running) -> None:
    auth = AuthInterceptor(
        AuthClient(f"127.0.0.1:{authsvc.port}"),
        requirements={f"/{SERVICE}/List": ["geofences:read"], f"/{SERVICE}/Lisst": ["geofences:read"]},
    )
    for register in ("registered", "generic"):
        server = auth.server()
        if register == "registered":
            server.add_registered_method_handlers(SERVICE, _handlers(Servicer()))
        else:
            server.add_generic_rpc_handlers(
                [grpc.method_handlers_generic_handler(SERVICE, _handlers(Servicer()))]
            )
        server.add_insecure_port("127.0.0.1:0")
        with pytest.raises(ValueError, match=f"does not serve: /{SERVICE}/Lisst"):
            await server.start()
        await server.stop(None)
    with pytest.raises(ValueError, match="not a full method name"):
        AuthInterceptor(AuthClient("127.0.0.1:1"), requirements={"List": ["geofences:read"]})
    with pytest.raises(ValueError, match="not a permission name"):
        AuthInterceptor(AuthClient("127.0.0.1:1"), requirements={f"/{SERVICE}/List": ["geofences-read"]})


async def test_given_to_a_server_directly_a_misnamed_requirement_refuses_every_call(
    authsvc: Running, make_account: AccountFactory
) -> None:
    """Without `server()` nothing can check the names at start: the first call does, and a typo
    then closes the service (UNAVAILABLE) instead of leaving the intended method open."""
    reader = await _key(authsvc, make_account, ["geofences:read", "geofences:write"])
    auth = AuthInterceptor(
        AuthClient(f"127.0.0.1:{authsvc.port}"), requirements={f"/{SERVICE}/Remove": ["workspace:admin"]}
    )
    server = grpc.aio.server(interceptors=[auth])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(SERVICE, _handlers(Servicer()))])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as direct:
            for method in ("Delete", "List"):
                call = direct.unary_unary(f"/{SERVICE}/{method}")(b"", metadata=bearer(reader))
                assert await _code(call) == grpc.StatusCode.UNAVAILABLE
    finally:
        await server.stop(None)


async def test_authsvc_gone_is_unavailable_for_the_services_callers(
    authsvc: Running, make_account: AccountFactory
) -> None:
    reader = await _key(authsvc, make_account, ["geofences:read"])
    server = AuthInterceptor(AuthClient(f"127.0.0.1:{free_port()}", deadline=5)).server()
    server.add_registered_method_handlers(SERVICE, _handlers(Servicer()))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as gone:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await gone.unary_unary(f"/{SERVICE}/List")(b"", metadata=bearer(reader))
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            assert refused.value.details() == "Service unavailable"  # no address, no transport text
    finally:
        await server.stop(None)
