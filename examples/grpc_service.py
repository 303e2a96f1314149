"""A grpc.aio service whose methods need authsvc credentials: `python examples/grpc_service.py`.

AUTHSVC_TARGET (default 127.0.0.1:50051) is AuthService's gRPC address; PORT (default 50061) is
where this service listens. Its methods take and return JSON bytes, so it runs without
generated code; a service with generated code registers its servicer the same way.
"""

import asyncio
import json
import os
from collections.abc import AsyncIterator

import grpc

from authsvc.client import AuthClient, AuthInterceptor, principal_of_call, require


@require("geofences:read")
async def list_geofences(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return json.dumps({"workspace_id": principal_of_call().workspace_id}).encode()


async def create_geofence(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return json.dumps({"created": True}).encode()  # needs geofences:write: see `requirements` below


@require("geofences:read")
async def watch_geofences(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
    for n in range(3):  # a streaming method: authenticated like a unary one
        yield json.dumps({"event": n, "subject_id": principal_of_call().subject_id}).encode()


async def serve() -> None:
    auth = AuthInterceptor(
        AuthClient(os.environ.get("AUTHSVC_TARGET", "127.0.0.1:50051")),
        requirements={"/geofences.v1.Geofences/CreateGeofence": ["geofences:write"]},
    )
    server = auth.server()  # made here, inside the running event loop
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "geofences.v1.Geofences",
                {
                    "ListGeofences": grpc.unary_unary_rpc_method_handler(list_geofences),
                    "CreateGeofence": grpc.unary_unary_rpc_method_handler(create_geofence),
                    "WatchGeofences": grpc.unary_stream_rpc_method_handler(watch_geofences),
                },
            )
        ]
    )
    server.add_insecure_port(f"127.0.0.1:{os.environ.get('PORT', '50061')}")
    await server.start()  # refuses to start if `requirements` names a method not served here
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(serve())
