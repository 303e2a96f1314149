"""authsvc.client.fastapi: `Depends(require(...))` hands routes a typed principal, refusals look like
the facade's, and what would leave a route open stops the start. Served by uvicorn on a real
socket, checked by a real AuthService."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import aiohttp
import pytest
import uvicorn
from fastapi import APIRouter, Depends, FastAPI, WebSocket

from authsvc.client import AuthClient, Principal
from authsvc.client import require as mark_required
from authsvc.client.fastapi import CurrentPrincipal, protect, require
from tests.conftest import AccountFactory, Running
from tests.integration.test_client_sdk import _key
from tests.support.addresses import free_port


@pytest.fixture
async def keys(authsvc: Running, make_account: AccountFactory) -> tuple[str, str, str]:
    return (
        await _key(authsvc, make_account, ["geofences:read"]),
        await _key(authsvc, make_account, ["geofences:read", "geofences:write"]),
        await _key(authsvc, make_account, ["webhooks:read"]),
    )


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """`app` under uvicorn (its lifespan included) in this loop; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="wsproto")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                await task
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def _app(target: str) -> FastAPI:
    app = FastAPI()
    writers = APIRouter(prefix="/admin", dependencies=[Depends(require("geofences:write"))])

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/whoami")
    async def whoami(principal: CurrentPrincipal) -> dict[str, Any]:
        return {
            "kind": principal.kind,
            "environment": principal.environment,
            "is_api_key": principal.is_api_key,
            "writes": principal.has_permission("geofences:write"),
        }

    @app.get("/geofences")
    async def geofences(principal: Annotated[Principal, Depends(require("geofences:read"))]) -> list[str]:
        return sorted(principal.permissions)

    @writers.post("/geofences", status_code=201)
    async def create() -> dict[str, bool]:
        return {"created": True}

    @app.websocket("/events")
    async def events(
        socket: WebSocket, principal: Annotated[Principal, Depends(require("geofences:read"))]
    ) -> None:
        await socket.accept()
        await socket.send_json({"kind": principal.kind})
        await socket.close()

    app.include_router(writers)
    protect(app, AuthClient(target, cache_seconds=0))
    return app


async def test_routes_get_a_typed_principal_and_need_their_permissions(
    authsvc: Running, keys: tuple[str, str, str]
) -> None:
    reader, writer, other = keys
    async with serving(_app(f"127.0.0.1:{authsvc.port}")) as url, aiohttp.ClientSession(url) as http:

        async def status(method: str, path: str, key: str | None) -> int:
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            async with http.request(method, path, headers=headers) as reply:
                return reply.status

        async with http.get("/whoami", headers={"Authorization": f"Bearer {writer}"}) as who:
            assert await who.json() == {
                "kind": "api_key",
                "environment": "test",
                "is_api_key": True,
                "writes": True,
            }
        async with http.get("/geofences", headers={"Authorization": f"Bearer {reader}"}) as listed:
            assert await listed.json() == ["geofences:read"]
        assert await status("GET", "/healthz", None) == 200
        assert await status("GET", "/whoami", None) == 401
        assert await status("GET", "/geofences", other) == 403
        assert await status("POST", "/admin/geofences", reader) == 403  # the router's dependency
        assert await status("POST", "/admin/geofences", writer) == 201

        async with http.ws_connect("/events", headers={"Authorization": f"Bearer {reader}"}) as socket:
            assert await socket.receive_json() == {"kind": "api_key"}
        for headers, refusal in (({}, 401), ({"Authorization": f"Bearer {other}"}, 403)):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:  # refused before it opens
                await http.ws_connect("/events", headers=headers)
            assert refused.value.status == refusal


async def test_refusals_are_the_facades_json_and_challenges(
    authsvc: Running, keys: tuple[str, str, str]
) -> None:
    reader, _, other = keys
    async with serving(_app(f"127.0.0.1:{authsvc.port}")) as url, aiohttp.ClientSession(url) as http:
        async with http.get("/geofences") as missing:
            assert missing.status == 401 and await missing.json() == {"detail": "Not authenticated"}
            assert missing.headers["WWW-Authenticate"] == "Bearer"
        async with http.get("/geofences", headers={"Authorization": "Bearer sf_live_nonsense"}) as bad:
            assert bad.status == 401 and await bad.json() == {"detail": "Invalid or expired token"}
            assert bad.headers["WWW-Authenticate"] == (
                'Bearer error="invalid_token", error_description="Invalid or expired token"'
            )
        async with http.get("/geofences", headers={"Authorization": f"Bearer {other}"}) as denied:
            assert denied.status == 403 and await denied.json() == {"detail": "Insufficient permissions"}
            assert denied.headers["WWW-Authenticate"] == (
                'Bearer error="insufficient_scope", error_description="Insufficient permissions"'
            )
        twice = [("Authorization", f"Bearer {reader}"), ("Authorization", f"Bearer {other}")]
        async with http.get("/geofences", headers=twice) as repeated:
            assert repeated.status == 400
            assert await repeated.json() == {"detail": "Malformed Authorization header"}


async def test_what_would_leave_a_route_open_stops_the_start(authsvc: Running) -> None:
    marked = FastAPI()

    @marked.get("/geofences")
    @mark_required("geofences:read")  # the aiohttp/gRPC mark: FastAPI never reads it
    async def listed() -> list[str]:
        return []

    uncalled = FastAPI()

    @uncalled.get("/geofences")
    async def also_listed(principal: Principal = Depends(require)) -> list[str]:  # noqa: B008
        return []

    for app, message in ((marked, "is never read by FastAPI"), (uncalled, "depends on `require` itself")):
        protect(app, AuthClient(f"127.0.0.1:{authsvc.port}"))
        with pytest.raises(RuntimeError, match=message):
            async with app.router.lifespan_context(app):
                pass


async def test_a_dependency_without_protect_and_an_authsvc_outage_answer_json(
    keys: tuple[str, str, str],
) -> None:
    unprotected = FastAPI()

    @unprotected.get("/geofences")
    async def listed(principal: Annotated[Principal, Depends(require("geofences:read"))]) -> list[str]:
        return []

    async with serving(unprotected) as url, aiohttp.ClientSession(url) as http:
        async with http.get("/geofences", headers={"Authorization": f"Bearer {keys[0]}"}) as reply:
            assert reply.status == 500 and await reply.json() == {"detail": "Internal server error"}

    async with serving(_app(f"127.0.0.1:{free_port()}")) as url, aiohttp.ClientSession(url) as http:
        async with http.get("/geofences", headers={"Authorization": f"Bearer {keys[0]}"}) as down:
            assert down.status == 503 and await down.json() == {"detail": "Service unavailable"}
