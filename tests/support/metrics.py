"""What AuthService's /metrics shows, read from the in-process registry the test servers share."""

from __future__ import annotations

import grpc
from prometheus_client import REGISTRY

SERVICE = "authsvc.v1.AuthService"


def calls_handled(method: str) -> float:
    """grpc_server_handled_total for `method`, over every status code."""
    labels = {"grpc_type": "unary", "grpc_service": SERVICE, "grpc_method": method}
    return sum(
        REGISTRY.get_sample_value("grpc_server_handled_total", {**labels, "grpc_code": code.name}) or 0.0
        for code in grpc.StatusCode
    )
