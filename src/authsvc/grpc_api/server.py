"""The gRPC server factory: tests and `authsvc serve` build the server the same way."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from envoy.service.auth.v3 import external_auth_pb2_grpc
from grpc_health.v1 import health as grpc_health
from grpc_health.v1 import health_pb2_grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc

from authsvc.grpc_api.decoding import SafeGenericHandler, tolerant
from authsvc.grpc_api.encoded_replies import serialize
from authsvc.grpc_api.envoy_authz import SERVICE as ENVOY_SERVICE
from authsvc.grpc_api.envoy_authz import EnvoyAuthorization
from authsvc.grpc_api.health import ServingHealth
from authsvc.grpc_api.peers import NOBODY, TrustedProxies
from authsvc.grpc_api.servicer import AuthServicer
from authsvc.service.container import Services
from authsvc.v1 import auth_pb2


async def start_server(
    services: Services,
    address: str,
    health: ServingHealth | None = None,
    proxies: TrustedProxies = NOBODY,
    envoy_check_cost: int = 1,
) -> tuple[grpc.aio.Server, int]:
    """Starts AuthService, Envoy's external authorization (grpc_api.envoy_authz), grpc.health.v1
    (when given) and server reflection on `address`.

    Port 0 picks a free port; returns the server and the port it bound.
    """
    server = grpc.aio.server()
    generic = GenericHandlersOnly(server)
    names = [_add_auth_service(AuthServicer(services, proxies), generic), reflection.SERVICE_NAME]
    external_auth_pb2_grpc.add_AuthorizationServicer_to_server(
        EnvoyAuthorization(services, envoy_check_cost), generic
    )
    names.append(ENVOY_SERVICE)
    if health is not None:
        health_pb2_grpc.add_HealthServicer_to_server(health.servicer, generic)
        names.append(grpc_health.SERVICE_NAME)
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
        reflection.aio.ReflectionServicer(names), generic
    )
    port = server.add_insecure_port(address)
    await server.start()
    return server, port


class GenericHandlersOnly:
    """What the generated `add_*Servicer_to_server` functions see of the server: it takes their
    generic handlers and drops their registered-method ones.

    Since grpcio 1.75.1 the aio server accepts each call through an `asyncio.wait` over one
    pending future per registered method plus one for the generic handlers (grpc/grpc#43092; a fix
    is proposed in grpc/grpc#43461): per call, work that grows with the methods registered (16
    here with health and reflection). Generic handlers resolve the same paths by a dict lookup,
    and the wait is over one future. `make bench` figure 0 shows what this is worth on its own.
    """

    def __init__(self, server: grpc.aio.Server) -> None:
        self._server = server

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        """A generated service (health, reflection): each method refuses undecodable requests."""
        self._server.add_generic_rpc_handlers([SafeGenericHandler(handler) for handler in handlers])

    def add_own_handlers(self, handler: grpc.GenericRpcHandler) -> None:
        """AuthService, whose methods handle undecodable requests themselves (`edge_call`)."""
        self._server.add_generic_rpc_handlers((handler,))

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler]
    ) -> None:
        """Deliberately nothing: see the class docstring."""


def _add_auth_service(servicer: AuthServicer, server: GenericHandlersOnly) -> str:
    """Registers every AuthService method as the generated code would, except that replies may
    also be bytes already encoded (see grpc_api.encoded_replies) and that a request which does not decode
    reaches the method as UNDECODABLE (grpc_api.decoding). Returns the service's full name."""
    service = auth_pb2.DESCRIPTOR.services_by_name["AuthService"]
    handlers = {}
    for method in service.methods:
        assert not method.client_streaming, method.name
        make = (
            grpc.unary_stream_rpc_method_handler
            if method.server_streaming
            else grpc.unary_unary_rpc_method_handler
        )
        handlers[method.name] = make(
            getattr(servicer, method.name),
            request_deserializer=tolerant(getattr(auth_pb2, method.input_type.name).FromString),
            response_serializer=serialize,
        )
    server.add_own_handlers(grpc.method_handlers_generic_handler(service.full_name, handlers))
    return str(service.full_name)
