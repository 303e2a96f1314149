"""authsvc.client: the client, the gRPC interceptor and the aiohttp middleware, over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import grpc
import pytest
from aiohttp import web

from authsvc.client import (
    AuthClient,
    AuthClientError,
    AuthInterceptor,
    auth_middleware,
    current_principal,
    principal_of_call,
    require,
)
from authsvc.v1 import auth_pb2
from tests.conftest import AccountFactory, Running
from tests.support.addresses import free_port
from tests.support.grpc_client import bearer
from tests.support.metrics import calls_handled


async def _key(running: Running, make_account: AccountFactory, permissions: list[str]) -> str:
    account = await make_account("admin")
    login = await running.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    created = await running.stub.CreateApiKey(
        auth_pb2.CreateApiKeyRequest(
            name="sdk", permissions=permissions, environment=auth_pb2.ENVIRONMENT_TEST
        ),
        metadata=bearer(login.access_token),
    )
    return created.secret


async def test_client_validates_and_caches_for_a_bounded_time(
    authsvc: Running, make_account: AccountFactory
) -> None:
    account = await make_account("admin")
    login = await authsvc.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    async with AuthClient(f"127.0.0.1:{authsvc.port}", cache_seconds=0.5) as client:
        principal = await client.validate(login.access_token, ["geofences:read"])
        assert principal.user_id == account.user_id
        with pytest.raises(AuthClientError) as refused:
            await client.validate("garbage")
        assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED

        await authsvc.stub.Logout(auth_pb2.LogoutRequest(), metadata=bearer(login.access_token))
        assert (await client.validate(login.access_token, ["geofences:read"])).user_id == account.user_id
        await asyncio.sleep(0.6)  # the cache is bounded: the logout is seen after it
        with pytest.raises(AuthClientError):
            await client.validate(login.access_token, ["geofences:read"])


async def test_concurrent_validations_share_calls_and_keep_their_own_answers(
    authsvc: Running, make_account: AccountFactory
) -> None:
    reader = await _key(authsvc, make_account, ["geofences:read"])
    writer = await _key(authsvc, make_account, ["geofences:write"])
    asked = [(reader, ["geofences:read"], "ok"), (writer, ["geofences:read"], "PERMISSION_DENIED")]
    asked += [(writer, ["geofences:write"], "ok"), ("garbage", [], "UNAUTHENTICATED")]
    asked *= 25

    before = calls_handled("ValidateTokens")
    async with AuthClient(f"127.0.0.1:{authsvc.port}", cache_seconds=0) as client:
        outcomes = await asyncio.gather(
            *(client.validate(token, required) for token, required, _ in asked), return_exceptions=True
        )
    for (token, _, expected), outcome in zip(asked, outcomes, strict=True):
        if expected == "ok":
            assert isinstance(outcome, auth_pb2.Principal) and outcome.kind == auth_pb2.PRINCIPAL_KIND_API_KEY
        else:
            assert isinstance(outcome, AuthClientError) and outcome.code.name == expected, (token, outcome)
    assert 1 <= calls_handled("ValidateTokens") - before <= len(asked) / 4


async def test_client_retries_while_authsvc_is_unavailable(
    authsvc: Running, make_account: AccountFactory
) -> None:
    key = await _key(authsvc, make_account, ["geofences:read"])
    port = free_port()
    server = grpc.aio.server()
    upstream = grpc.aio.insecure_channel(f"127.0.0.1:{authsvc.port}")
    server.add_generic_rpc_handlers([_proxy_to(upstream)])
    try:
        async with AuthClient(f"127.0.0.1:{port}", deadline=5, cache_seconds=0) as client:
            call = asyncio.create_task(client.validate(key))
            await asyncio.sleep(0.15)  # the first attempts find nothing listening
            server.add_insecure_port(f"127.0.0.1:{port}")
            await server.start()
            assert (await call).kind == auth_pb2.PRINCIPAL_KIND_API_KEY
    finally:
        await server.stop(None)
        await upstream.close()


async def test_aiohttp_middleware_answers_504_when_authsvc_does_not_answer_in_time() -> None:
    async def never(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        await asyncio.sleep(30)
        return b""

    async def geofences(request: web.Request) -> web.Response:
        return web.json_response({})

    stalled = grpc.aio.server()
    stalled.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "authsvc.v1.AuthService",
                {
                    name: grpc.unary_unary_rpc_method_handler(never)
                    for name in ("ValidateToken", "ValidateTokens")
                },
            )
        ]
    )
    grpc_port = stalled.add_insecure_port("127.0.0.1:0")
    await stalled.start()
    client = AuthClient(f"127.0.0.1:{grpc_port}", deadline=0.3, cache_seconds=0)
    app = web.Application(middlewares=[auth_middleware(client)])
    app.router.add_get("/geofences", geofences)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{runner.addresses[0][1]}") as http:
            async with http.get("/geofences", headers={"Authorization": "Bearer sf_test_x"}) as late:
                assert late.status == 504 and await late.json() == {"detail": "Upstream timeout"}
    finally:
        await runner.cleanup()
        await client.close()
        await stalled.stop(None)


def _proxy_to(channel: grpc.aio.Channel) -> grpc.GenericRpcHandler:
    """A stand-in AuthService on another port that forwards validations to the real one."""

    def forward(method: str) -> grpc.RpcMethodHandler:
        async def call(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            reply: bytes = await channel.unary_unary(f"/authsvc.v1.AuthService/{method}")(request)
            return reply

        return grpc.unary_unary_rpc_method_handler(call)

    return grpc.method_handlers_generic_handler(
        "authsvc.v1.AuthService", {name: forward(name) for name in ("ValidateToken", "ValidateTokens")}
    )


@pytest.fixture
async def guarded_grpc(authsvc: Running) -> AsyncIterator[grpc.aio.Channel]:
    async def who(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return principal_of_call().subject_id.encode()

    async def watch(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        yield b"a streamed answer"

    client = AuthClient(f"127.0.0.1:{authsvc.port}", cache_seconds=0)
    interceptor = AuthInterceptor(client, requirements={"/demo.Geofences/Who": ["geofences:read"]})
    server = grpc.aio.server(interceptors=[interceptor])
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "demo.Geofences",
                {
                    "Who": grpc.unary_unary_rpc_method_handler(who),
                    "Watch": grpc.unary_stream_rpc_method_handler(watch),
                },
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel
    await server.stop(None)
    await client.close()


async def test_grpc_interceptor_enforces_permissions(
    guarded_grpc: grpc.aio.Channel, authsvc: Running, make_account: AccountFactory
) -> None:
    reader = await _key(authsvc, make_account, ["geofences:read"])
    other = await _key(authsvc, make_account, ["webhooks:read"])
    who = guarded_grpc.unary_unary("/demo.Geofences/Who")
    principal = (await authsvc.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=reader))).principal
    assert await who(b"", metadata=bearer(reader)) == principal.subject_id.encode()
    for metadata, code in (
        ((), grpc.StatusCode.UNAUTHENTICATED),
        (bearer("sf_live_nonsense"), grpc.StatusCode.UNAUTHENTICATED),
        (bearer(other), grpc.StatusCode.PERMISSION_DENIED),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await who(b"", metadata=metadata)
        assert refused.value.code() == code


async def test_grpc_interceptor_never_passes_streaming_calls_through(
    guarded_grpc: grpc.aio.Channel, authsvc: Running, make_account: AccountFactory
) -> None:
    reader = await _key(authsvc, make_account, ["geofences:read"])
    watch = guarded_grpc.unary_stream("/demo.Geofences/Watch")
    for metadata in ((), bearer(reader)):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for _ in watch(b"", metadata=metadata):
                pass
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_aiohttp_middleware_enforces_permissions(
    authsvc: Running, make_account: AccountFactory
) -> None:
    @require("geofences:read")
    async def geofences(request: web.Request) -> web.Response:
        return web.json_response({"workspace": current_principal(request).workspace_id})

    client = AuthClient(f"127.0.0.1:{authsvc.port}", cache_seconds=0)
    app = web.Application(middlewares=[auth_middleware(client)])
    app.router.add_get("/geofences", geofences)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    reader = await _key(authsvc, make_account, ["geofences:read"])
    other = await _key(authsvc, make_account, ["webhooks:read"])
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            async with http.get("/geofences", headers={"Authorization": f"Bearer {reader}"}) as ok:
                assert ok.status == 200 and "workspace" in await ok.json()
            async with http.get("/geofences") as missing:
                assert missing.status == 401 and await missing.json() == {"detail": "Not authenticated"}
                assert missing.headers["WWW-Authenticate"].startswith("Bearer")
            async with http.get("/geofences", headers={"Authorization": f"Bearer {other}"}) as denied:
                assert denied.status == 403
                assert await denied.json() == {"detail": "Insufficient permissions"}
                assert 'error="insufficient_scope"' in denied.headers["WWW-Authenticate"]
    finally:
        await runner.cleanup()
        await client.close()
