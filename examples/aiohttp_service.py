"""An aiohttp service whose routes need authsvc credentials: `python examples/aiohttp_service.py`.

AUTHSVC_TARGET (default 127.0.0.1:50051) is AuthService's gRPC address; PORT (default 8000) is
where this service listens.
"""

import os

from aiohttp import web

from authsvc.client import AuthClient, current_principal, protect, require

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/whoami")
async def whoami(request: web.Request) -> web.Response:  # any valid credential
    principal = current_principal(request)
    return web.json_response({"kind": principal.kind, "subject_id": principal.subject_id})


@routes.view("/geofences")
class Geofences(web.View):
    @require("geofences:read")
    async def get(self) -> web.Response:
        return web.json_response({"workspace_id": current_principal(self.request).workspace_id})

    @require("geofences:write")
    async def post(self) -> web.Response:
        return web.json_response({"created": True}, status=201)


def make_app() -> web.Application:
    app = web.Application()
    app.add_routes(routes)
    protect(app, AuthClient(os.environ.get("AUTHSVC_TARGET", "127.0.0.1:50051")), public_paths={"/healthz"})
    return app


if __name__ == "__main__":
    web.run_app(make_app(), host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
