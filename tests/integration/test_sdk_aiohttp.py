"""authsvc.client for aiohttp services: every way aiohttp declares a route is enforced, marks that
would never be read stop the start, refusals look like the facade's. Real sockets throughout."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import grpc
import pytest
from aiohttp import web

from authsvc.client import AuthClient, current_principal, protect, require
from tests.conftest import AccountFactory, Running
from tests.integration.test_client_sdk import _key
from tests.support.addresses import free_port

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Keys:
    reader: str  # geofences:read
    writer: str  # geofences:read, geofences:write
    other: str  # webhooks:read only


@pytest.fixture
async def keys(authsvc: Running, make_account: AccountFactory) -> Keys:
    return Keys(
        reader=await _key(authsvc, make_account, ["geofences:read"]),
        writer=await _key(authsvc, make_account, ["geofences:read", "geofences:write"]),
        other=await _key(authsvc, make_account, ["webhooks:read"]),
    )


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def _ok(request: web.Request) -> web.Response:
    return web.json_response({"kind": current_principal(request).kind})


def _fresh() -> Handler:
    """A handler of its own to mark (a mark is set on the function itself)."""

    async def handler(request: web.Request) -> web.Response:
        return await _ok(request)

    return handler


def _logged(handler: Handler) -> Handler:
    """A decorator of the service's own, applied over @require."""

    @functools.wraps(handler)
    async def logged(request: web.Request) -> web.StreamResponse:
        return await handler(request)

    return logged


class MarkedMethods(web.View):  # the case: the mark on the method of a class-based view
    @require("geofences:read")
    async def get(self) -> web.Response:
        return await _ok(self.request)

    @require("geofences:write")
    async def post(self) -> web.Response:
        return await _ok(self.request)


@require("geofences:read")
class MarkedClass(web.View):  # the mark on the class: every method needs it
    async def get(self) -> web.Response:
        return await _ok(self.request)


class InheritsMark(MarkedClass):  # a subclass of a protected view stays protected
    pass


async def _with_workspace(workspace: str, request: web.Request) -> web.Response:
    return await _ok(request)


async def _with_workspace_too(workspace: str, request: web.Request) -> web.Response:
    return await _ok(request)


@pytest.fixture
async def service(authsvc: Running) -> AsyncIterator[str]:
    routes = web.RouteTableDef()

    @routes.get("/table")
    @require("geofences:read")
    async def from_table(request: web.Request) -> web.Response:
        return await _ok(request)

    sub = web.Application()
    sub.router.add_get("/inner", require("geofences:read")(_fresh()))

    app = web.Application()
    app.add_routes(routes)
    app.router.add_get("/function", require("geofences:read")(_fresh()))
    app.router.add_view("/methods", MarkedMethods)
    app.router.add_view("/class", MarkedClass)
    app.router.add_view("/inherited", InheritsMark)
    app.router.add_get("/partial", require("geofences:read")(functools.partial(_with_workspace, "w")))
    app.router.add_get(
        "/partial-of-marked", functools.partial(require("geofences:read")(_with_workspace_too), "w")
    )
    app.router.add_get("/wrapped", _logged(require("geofences:read")(_fresh())))
    app.router.add_route("*", "/any-method", require("geofences:read")(_fresh()))
    app.router.add_get("/open", _ok)  # any valid credential
    app.router.add_get("/healthz", _ok)
    app.add_subapp("/sub", sub)
    protect(app, AuthClient(f"127.0.0.1:{authsvc.port}", cache_seconds=0), public_paths={"/healthz"})
    runner, url = await _serve(app)
    yield url
    await runner.cleanup()


PROTECTED_GETS = (
    "/function",
    "/table",
    "/methods",
    "/class",
    "/inherited",
    "/partial",
    "/partial-of-marked",
    "/wrapped",
    "/any-method",
    "/sub/inner",
)


async def test_every_way_of_declaring_a_route_enforces_its_permissions(service: str, keys: Keys) -> None:
    async with aiohttp.ClientSession(service) as http:
        for path in PROTECTED_GETS:
            async with http.get(path, headers={"Authorization": f"Bearer {keys.reader}"}) as allowed:
                assert allowed.status == 200 and await allowed.json() == {"kind": "api_key"}, path
            async with http.get(path, headers={"Authorization": f"Bearer {keys.other}"}) as denied:
                assert denied.status == 403, path
                assert await denied.json() == {"detail": "Insufficient permissions"}
        # A view's methods each need their own mark's permissions.
        async with http.post("/methods", headers={"Authorization": f"Bearer {keys.reader}"}) as reader:
            assert reader.status == 403
        async with http.post("/methods", headers={"Authorization": f"Bearer {keys.writer}"}) as writer:
            assert writer.status == 200
        async with http.post("/any-method", headers={"Authorization": f"Bearer {keys.other}"}) as other:
            assert other.status == 403
        # Unmarked routes need a valid credential, public paths none.
        async with http.get("/open", headers={"Authorization": f"Bearer {keys.other}"}) as open_:
            assert open_.status == 200
        async with http.get("/open") as anonymous:
            assert anonymous.status == 401
        async with http.get("/healthz") as public:
            assert public.status == 500  # the handler reads a principal the public path has not got
        async with http.get("/missing", headers={"Authorization": f"Bearer {keys.other}"}) as missing:
            assert missing.status == 404


async def test_refusals_are_the_facades_json_and_challenges(service: str, keys: Keys) -> None:
    async with aiohttp.ClientSession(service) as http:
        async with http.get("/function") as missing:
            assert missing.status == 401 and await missing.json() == {"detail": "Not authenticated"}
            assert missing.headers["WWW-Authenticate"] == "Bearer"
        async with http.get("/function", headers={"Authorization": "Basic dXNlcjpwYXNz"}) as basic:
            assert basic.status == 401 and basic.headers["WWW-Authenticate"] == (
                'Bearer error="invalid_token", error_description="Not authenticated"'
            )
        async with http.get("/function", headers={"Authorization": "Bearer sf_live_nonsense"}) as bad:
            assert bad.status == 401 and await bad.json() == {"detail": "Invalid or expired token"}
            assert bad.headers["WWW-Authenticate"] == (
                'Bearer error="invalid_token", error_description="Invalid or expired token"'
            )
        async with http.get("/function", headers={"Authorization": f"Bearer {keys.other}"}) as denied:
            assert denied.headers["WWW-Authenticate"] == (
                'Bearer error="insufficient_scope", error_description="Insufficient permissions"'
            )
        twice = [("Authorization", f"Bearer {keys.reader}"), ("Authorization", f"Bearer {keys.other}")]
        async with http.get("/function", headers=twice) as repeated:
            assert repeated.status == 400 and await repeated.json() == {
                "detail": "Malformed Authorization header"
            }


class Misspelt(web.View):
    @require("geofences:read")
    async def gett(self) -> web.Response:  # never called by aiohttp: the view has no GET
        return web.json_response({})


async def test_a_mark_that_would_never_be_read_stops_the_start(authsvc: Running) -> None:
    app = web.Application()
    app.router.add_view("/misspelt", Misspelt)
    protect(app, AuthClient(f"127.0.0.1:{authsvc.port}"))
    runner = web.AppRunner(app)
    with pytest.raises(RuntimeError, match=r"Misspelt\.gett is never enforced"):
        await runner.setup()
    await runner.cleanup()


def test_require_refuses_what_it_could_not_enforce_when_declared() -> None:
    with pytest.raises(TypeError, match="not bare @require"):
        require(_ok)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a permission name"):
        require("geofences.read")
    with pytest.raises(ValueError, match="at least one permission"):
        require()
    with pytest.raises(TypeError, match="not the string"):
        from authsvc.client.requirements import checked_permissions

        checked_permissions("geofences:read")


async def test_authsvc_stalled_or_gone_is_503_for_the_services_callers(keys: Keys) -> None:
    async def never(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        await asyncio.sleep(30)
        return b""

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
    stalled_port = stalled.add_insecure_port("127.0.0.1:0")
    await stalled.start()
    runners = []
    try:
        for target, deadline in ((f"127.0.0.1:{stalled_port}", 0.3), (f"127.0.0.1:{free_port()}", 5.0)):
            app = web.Application()
            app.router.add_get("/function", require("geofences:read")(_fresh()))
            protect(app, AuthClient(target, deadline=deadline, cache_seconds=0))
            runner, url = await _serve(app)
            runners.append(runner)
            async with aiohttp.ClientSession(url) as http:
                async with http.get("/function", headers={"Authorization": f"Bearer {keys.reader}"}) as down:
                    assert down.status == 503 and await down.json() == {"detail": "Service unavailable"}
    finally:
        for runner in runners:
            await runner.cleanup()
        await stalled.stop(None)
