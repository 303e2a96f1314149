"""The floors: an empty grpc.aio unary server and an empty aiohttp JSON handler, one per process.

`python -m bench.floors grpc|grpc-generic|http --loop asyncio|uvloop` prints `floor listening on
127.0.0.1:PORT` and serves until SIGTERM. The gRPC floor answers the very paths AuthService
serves, with empty replies, so the same pre-encoded requests drive both; the HTTP floor answers
`/api/v1/auth/me`. The gRPC floor is set up the usual way, by the generated
`add_AuthServiceServicer_to_server`, which also registers each method; `grpc-generic` is the
same empty server with generic handlers only, as AuthService serves (see
authsvc.grpc_api.server): the reference that shows how much that choice alone is worth.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

import grpc
from aiohttp import web

from authsvc.grpc_api.server import GenericHandlersOnly
from authsvc.v1 import auth_pb2, auth_pb2_grpc

HOST = "127.0.0.1"


class EmptyAuthService(auth_pb2_grpc.AuthServiceServicer):
    """Decodes the request (as the real servicer does) and answers an empty reply."""

    async def ValidateToken(self, request: Any, context: Any) -> Any:
        return auth_pb2.ValidateTokenResponse()

    async def Refresh(self, request: Any, context: Any) -> Any:
        return auth_pb2.TokenPair()

    async def Login(self, request: Any, context: Any) -> Any:
        return auth_pb2.TokenPair()


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


async def serve_grpc(generic_only: bool) -> None:
    server = grpc.aio.server()
    target: Any = GenericHandlersOnly(server) if generic_only else server
    auth_pb2_grpc.add_AuthServiceServicer_to_server(EmptyAuthService(), target)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port(f"{HOST}:0")
    await server.start()
    print(f"floor listening on {HOST}:{port}", flush=True)
    try:
        await _until_signalled()
    finally:
        await server.stop(None)


async def _empty_json(request: web.Request) -> web.Response:
    return web.json_response({})


async def serve_http() -> None:
    app = web.Application()
    app.router.add_get("/api/v1/auth/me", _empty_json)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, HOST, 0).start()
        print(f"floor listening on {HOST}:{runner.addresses[0][1]}", flush=True)
        await _until_signalled()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floors")
    parser.add_argument("kind", choices=["grpc", "grpc-generic", "http"])
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(serve_http() if args.kind == "http" else serve_grpc(args.kind == "grpc-generic"))


if __name__ == "__main__":
    main()
