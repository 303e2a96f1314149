"""Prometheus metrics of AuthService, named as go-grpc-prometheus names its own."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily

HANDLED = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, by method and status code.",
    ["grpc_type", "grpc_service", "grpc_method", "grpc_code"],
)
HANDLING_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Time to handle an RPC on the server.",
    ["grpc_type", "grpc_service", "grpc_method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
LOGINS = Counter("authsvc_logins_total", "Login attempts by outcome.", ["outcome"])
REFRESH_REUSE = Counter("authsvc_refresh_reuse_total", "Refresh tokens replayed after the grace window.")
RATE_LIMITED = Counter(
    "authsvc_rate_limited_total", "Requests refused by a rate limit, by bucket.", ["bucket"]
)
AUDIT_EVENTS = Counter("authsvc_audit_events_total", "Security events recorded, by kind.", ["event"])


class PoolCollector:
    """Reports the asyncpg pool's size and idle connections at each scrape."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "authsvc_db_pool_connections", "Database pool connections.", labels=["state"]
        )
        size, idle = self._pool.get_size(), self._pool.get_idle_size()
        family.add_metric(["in_use"], size - idle)
        family.add_metric(["idle"], idle)
        family.add_metric(["max"], self._pool.get_max_size())
        yield family


@contextlib.contextmanager
def serving(address: str, pool: Any) -> Iterator[int | None]:
    """Serves /metrics on `address` ("host:port"; empty: off) while inside; yields the bound port."""
    collector = PoolCollector(pool)
    REGISTRY.register(collector)
    server = None
    try:
        if address:
            host, _, port = address.rpartition(":")
            server, _thread = start_http_server(int(port), addr=host or "127.0.0.1")
            yield server.server_port
        else:
            yield None
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
        REGISTRY.unregister(collector)
