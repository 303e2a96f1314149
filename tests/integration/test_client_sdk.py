"""authsvc.client: the client, the gRPC interceptor and the aiohttp middleware, over real sockets."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest

from authsvc.client import (
    AuthClient,
    AuthClientError,
    Principal,
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
            assert isinstance(outcome, Principal) and outcome.kind == "api_key" and outcome.is_api_key
        else:
            assert isinstance(outcome, AuthClientError) and outcome.code.name == expected, (token, outcome)
    assert 1 <= calls_handled("ValidateTokens") - before <= len(asked) / 4


async def test_client_retries_a_call_refused_unavailable_once(
    authsvc: Running, make_account: AccountFactory
) -> None:
    """A connection lost under a call (a replica restarting) costs the caller nothing: gRPC's own
    retry sends the check again."""
    key = await _key(authsvc, make_account, ["geofences:read"])
    server = grpc.aio.server()
    upstream = grpc.aio.insecure_channel(f"127.0.0.1:{authsvc.port}")
    refused: list[str] = []
    server.add_generic_rpc_handlers([_proxy_to(upstream, refuse_first=refused)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with AuthClient(f"127.0.0.1:{port}", cache_seconds=0) as client:
            assert (await client.validate(key)).is_api_key
        assert len(refused) == 1  # the first attempt really was refused
    finally:
        await server.stop(None)
        await upstream.close()


async def test_an_authsvc_that_is_not_there_is_answered_unavailable_at_once() -> None:
    """AuthService stopped: every check fails UNAVAILABLE "Service unavailable" well inside its
    deadline (a few short retries), never DEADLINE_EXCEEDED after stalling, never with the
    transport's message (addresses) in it."""
    async with AuthClient(f"127.0.0.1:{free_port()}", deadline=5, cache_seconds=0) as client:
        for _ in range(3):
            started = time.monotonic()
            with pytest.raises(AuthClientError) as refused:
                await client.validate("sf_test_anything")
            assert refused.value.code == grpc.StatusCode.UNAVAILABLE
            assert refused.value.detail == "Service unavailable"
            assert time.monotonic() - started < 2.5  # half the deadline: it did not wait it out


async def test_a_client_made_outside_any_event_loop_works_in_the_loop_that_uses_it(
    authsvc: Running, make_account: AccountFactory
) -> None:
    """grpc.aio objects belong to the loop that makes them: the client opens its channel on
    first use, so one made at import time (before the app's loop exists) works."""
    key = await _key(authsvc, make_account, ["geofences:read"])
    made: list[AuthClient] = []
    await asyncio.to_thread(lambda: made.append(AuthClient(f"127.0.0.1:{authsvc.port}")))
    client = made[0]
    try:
        assert (await client.validate(key, ["geofences:read"])).is_api_key

        def in_another_loop() -> None:
            with pytest.raises(RuntimeError, match="another event loop"):
                asyncio.run(client.validate(key))

        await asyncio.to_thread(in_another_loop)
    finally:
        await client.close()


def _proxy_to(channel: grpc.aio.Channel, refuse_first: list[str] | None = None) -> grpc.GenericRpcHandler:
    """A stand-in AuthService on another port that forwards validations to the real one; with
    `refuse_first`, the first call is answered UNAVAILABLE (and recorded there)."""

    def forward(method: str) -> grpc.RpcMethodHandler:
        async def call(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            if refuse_first is not None and not refuse_first:
                refuse_first.append(method)
                await context.abort(grpc.StatusCode.UNAVAILABLE, "restarting")
            reply: bytes = await channel.unary_unary(f"/authsvc.v1.AuthService/{method}")(request)
            return reply

        return grpc.unary_unary_rpc_method_handler(call)

    return grpc.method_handlers_generic_handler(
        "authsvc.v1.AuthService", {name: forward(name) for name in ("ValidateToken", "ValidateTokens")}
    )
