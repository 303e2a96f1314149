"""authsvc.client.testing.FakeAuthService: a service tests its own authorisation against it as it
would against AuthService (same answers, compared with the real one), with no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
import grpc
import pytest
from aiohttp import web

from authsvc.client import AuthClient, AuthClientError, AuthInterceptor, principal_of_call, require
from authsvc.client.aiohttp_middleware import current_principal, protect
from authsvc.client.testing import FakeAuthService
from tests.conftest import AccountFactory, Running
from tests.integration.test_client_sdk import _key
from tests.support.grpc_client import bearer


class Clock:
    """The fake's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@require("geofences:read")
async def _geofences(request: web.Request) -> web.Response:
    principal = current_principal(request)
    return web.json_response({"kind": principal.kind, "name": principal.api_key_name})


async def test_a_service_tests_its_authorisation_against_the_fake() -> None:
    clock = Clock()
    async with FakeAuthService(clock=clock) as fake:
        app = web.Application()
        app.router.add_get("/geofences", _geofences)
        protect(app, fake.client())
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        reader = fake.issue_api_key(["geofences:read"], name="ci", expires_at=clock.now + timedelta(hours=1))
        user = fake.issue_access_token(["geofences:read"], expires_in=timedelta(minutes=5))
        other = fake.issue_api_key(["webhooks:read"])
        try:
            async with aiohttp.ClientSession(f"http://127.0.0.1:{runner.addresses[0][1]}") as http:

                async def answer(token: str | None) -> tuple[int, object]:
                    headers = {"Authorization": f"Bearer {token}"} if token else {}
                    async with http.get("/geofences", headers=headers) as reply:
                        return reply.status, await reply.json()

                assert await answer(reader) == (200, {"kind": "api_key", "name": "ci"})
                assert await answer(user) == (200, {"kind": "user", "name": None})
                assert await answer(other) == (403, {"detail": "Insufficient permissions"})
                assert await answer(None) == (401, {"detail": "Not authenticated"})
                assert fake.required_permissions[-1] == ("geofences:read",)

                clock.now += timedelta(minutes=10)  # the access token's time is up, not the key's
                assert await answer(user) == (401, {"detail": "Token expired"})
                assert (await answer(reader))[0] == 200
                clock.now += timedelta(hours=1)
                assert await answer(reader) == (401, {"detail": "API key expired"})

                fake.revoke(other)
                assert await answer(other) == (401, {"detail": "Invalid or expired token"})
                fake.available = False  # an outage, as the service's callers would see it
                assert await answer(fake.issue_api_key(["geofences:read"])) == (
                    503,
                    {"detail": "Service unavailable"},
                )
        finally:
            await runner.cleanup()


async def test_the_fake_answers_as_authservice_does(authsvc: Running, make_account: AccountFactory) -> None:
    real_key = await _key(authsvc, make_account, ["geofences:read"])
    async with FakeAuthService() as fake, AuthClient(f"127.0.0.1:{authsvc.port}") as real:
        fake_key = fake.issue_api_key(["geofences:read"])
        fake_client = fake.client()

        async def outcome(client: AuthClient, token: str, required: list[str]) -> object:
            try:
                principal = await client.validate(token, required)
            except AuthClientError as error:
                return error.code, error.detail
            return principal.kind, principal.environment, sorted(principal.permissions), principal.metadata

        cases = [([], "key"), (["geofences:read"], "key"), (["geofences:write"], "key"), ([], "sf_test_nope")]
        for required, token in cases:
            expected = await outcome(real, real_key if token == "key" else token, required)
            assert await outcome(fake_client, fake_key if token == "key" else token, required) == expected
        await fake_client.close()


async def test_a_grpc_service_gets_its_principal_from_the_fake() -> None:
    async def who(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return principal_of_call().workspace_id.encode()

    async with FakeAuthService(workspace_id="ws-under-test") as fake:
        server = AuthInterceptor(fake.client(), requirements={"/demo.Svc/Who": ["geofences:read"]}).server()
        server.add_registered_method_handlers("demo.Svc", {"Who": grpc.unary_unary_rpc_method_handler(who)})
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                call = channel.unary_unary("/demo.Svc/Who")
                assert await call(b"", metadata=bearer(fake.issue_access_token(["geofences:read"]))) == (
                    b"ws-under-test"
                )
                with pytest.raises(grpc.aio.AioRpcError) as denied:
                    await call(b"", metadata=bearer(fake.issue_access_token()))
                assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
        finally:
            await server.stop(None)
