"""The gRPC server factory: tests and `authsvc serve` build the server the same way."""

from __future__ import annotations

import grpc

from authsvc.grpc_api.servicer import AuthServicer
from authsvc.service.container import Services
from authsvc.v1 import auth_pb2_grpc


async def start_server(services: Services, address: str) -> tuple[grpc.aio.Server, int]:
    """Starts AuthService on `address` (port 0 picks a free one); returns the server and its port."""
    server = grpc.aio.server()
    auth_pb2_grpc.add_AuthServiceServicer_to_server(AuthServicer(services), server)
    port = server.add_insecure_port(address)
    await server.start()
    return server, port
