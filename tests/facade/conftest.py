"""The facade on a real port in front of a real AuthService (or a scripted one), on the session loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from grpc_health.v1 import health_pb2

from authsvc.adapters.database import Database
from authsvc.grpc_api.health import ServingHealth
from authsvc.grpc_api.peers import TrustedProxies
from authsvc.grpc_api.server import start_server
from http_facade.app import create_app
from http_facade.config import Settings
from http_facade.runner import FacadeRunner
from tests.conftest import Running
from tests.facade.client import Facade
from tests.facade.scripted import Scripted, ScriptedAuthService, serving
from tests.support.addresses import TEST_PROXY_TOKEN, free_port
from tests.support.echo_app import App, echo_app

FacadeFactory = Callable[..., Awaitable[Facade]]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def start_facade(http: aiohttp.ClientSession) -> AsyncIterator[FacadeFactory]:
    """Starts facades on free ports in front of `target`; stops them afterwards."""
    runners: list[web.AppRunner] = []

    async def start(target: str, **overrides: object) -> Facade:
        # Like `make run`: the facade proves itself to AuthService with the proxy token.
        default = Settings(authsvc_target=target, port=0, proxy_token=TEST_PROXY_TOKEN)
        settings = default.model_copy(update=overrides)
        runner = FacadeRunner(create_app(settings), shutdown_timeout=1)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        return Facade(f"http://127.0.0.1:{runner.addresses[0][1]}", http)

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def facade(start_facade: FacadeFactory, authsvc: Running) -> Facade:
    """The facade in front of the shared test AuthService."""
    return await start_facade(f"127.0.0.1:{authsvc.port}")


@pytest.fixture
async def scripted() -> AsyncIterator[Scripted]:
    async with serving(ScriptedAuthService()) as running:
        yield running


@pytest.fixture
async def authsvc_with_health(authsvc: Running, database: Database) -> AsyncIterator[str]:
    """The test AuthService's use cases served again, with grpc.health.v1 tracking the test
    database; its target."""
    checker = ServingHealth(database.ping)
    assert await checker.check_once()
    proxies = TrustedProxies(authsvc.settings.proxy_tokens, authsvc.settings.trusted_proxies)
    server, port = await start_server(authsvc.services, "127.0.0.1:0", checker, proxies)
    yield f"127.0.0.1:{port}"
    await server.stop(None)


@pytest.fixture
async def app() -> AsyncIterator[App]:
    """The app behind a gateway: echoes what reached it."""
    async with echo_app() as running:
        yield running


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on."""
    return free_port()


SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
