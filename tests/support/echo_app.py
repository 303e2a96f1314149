"""The app behind a gateway in the gateway tests: it answers every request with what reached it
(method, path, body, the identity headers), so a test sees exactly what the gateway passed on."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from authsvc.client.forward_auth_headers import IDENTITY_HEADERS
from tests.facade.client import Reply

IDENTITY = IDENTITY_HEADERS  # the headers forward auth sets (and strips from the client)


@dataclass
class App:
    """The app behind the gateway: answers every request with what reached it."""

    url: str
    seen: list[dict[str, Any]] = field(default_factory=list)


@contextlib.asynccontextmanager
async def echo_app() -> AsyncIterator[App]:
    seen: list[dict[str, Any]] = []

    async def echo(request: web.Request) -> web.Response:
        received = {
            "method": request.method,
            "path": request.path_qs,
            "body": await request.text(),
            "identity": {name: request.headers.getall(name, []) for name in IDENTITY},
            "request_id": request.headers.get("X-Request-ID"),
        }
        seen.append(received)
        return web.json_response(received)

    application = web.Application()
    application.router.add_route("*", "/{tail:.*}", echo)
    runner = web.AppRunner(application)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield App(f"http://127.0.0.1:{runner.addresses[0][1]}", seen)
    await runner.cleanup()


async def call(session: aiohttp.ClientSession, url: str, method: str = "GET", **kwargs: Any) -> Reply:
    async with session.request(method, url, **kwargs) as response:
        return Reply(response.status, response.headers, await response.read())
