"""The gRPC server metrics, counted in plain ints, as a Prometheus scrape shows them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from authsvc.metrics import RpcStats


def test_counts_and_durations_scrape_as_go_grpc_prometheus_names_them() -> None:
    stats, registry = RpcStats(), CollectorRegistry()
    registry.register(stats)
    validate = stats.method("unary", "authsvc.v1.AuthService", "ValidateToken")
    for seconds in (0.0002, 0.0005, 0.003, 20.0):
        validate.observe("OK", seconds)
    validate.observe("UNAUTHENTICATED", 0.0001)
    stats.method("unary", "authsvc.v1.AuthService", "Login").observe("OK", 0.3)

    labels = {"grpc_type": "unary", "grpc_service": "authsvc.v1.AuthService", "grpc_method": "ValidateToken"}
    value = registry.get_sample_value
    assert value("grpc_server_handled_total", {**labels, "grpc_code": "OK"}) == 4
    assert value("grpc_server_handled_total", {**labels, "grpc_code": "UNAUTHENTICATED"}) == 1
    assert value("grpc_server_handling_seconds_bucket", {**labels, "le": "0.0005"}) == 3  # le: at most
    assert value("grpc_server_handling_seconds_bucket", {**labels, "le": "0.005"}) == 4
    assert value("grpc_server_handling_seconds_bucket", {**labels, "le": "10.0"}) == 4
    assert value("grpc_server_handling_seconds_bucket", {**labels, "le": "+Inf"}) == 5
    assert value("grpc_server_handling_seconds_count", labels) == 5
    assert abs((value("grpc_server_handling_seconds_sum", labels) or 0) - 20.0038) < 1e-9
    login = {**labels, "grpc_method": "Login"}
    assert value("grpc_server_handled_total", {**login, "grpc_code": "OK"}) == 1
