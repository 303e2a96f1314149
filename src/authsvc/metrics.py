"""Prometheus metrics of AuthService, named as go-grpc-prometheus names its own."""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.utils import floatToGoString  # the `le` texts Histogram writes: "10.0"

from authsvc.metrics_sum import summed_registry
from authsvc.workers import Scrape

_RPC_LABELS = ["grpc_type", "grpc_service", "grpc_method"]
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class MethodStats:
    """One method's completed calls, by status code, and their durations."""

    __slots__ = ("buckets", "handled", "seconds")

    def __init__(self) -> None:
        self.handled: dict[str, int] = {}
        self.buckets = [0] * (len(_BUCKETS) + 1)  # the last one: above every bound
        self.seconds = 0.0

    def observe(self, code: str, seconds: float) -> None:
        self.handled[code] = self.handled.get(code, 0) + 1
        self.buckets[bisect.bisect_left(_BUCKETS, seconds)] += 1
        self.seconds += seconds


class RpcStats:
    """grpc_server_handled_total and grpc_server_handling_seconds, counted in plain ints.

    prometheus_client's Counter and Histogram take a lock on every update, which showed in the
    ValidateToken profile. These are updated only on the event loop's thread, and read whole at
    each scrape (copying a list or a dict holds the GIL throughout)."""

    def __init__(self) -> None:
        self._methods: dict[tuple[str, str, str], MethodStats] = {}

    def method(self, grpc_type: str, service: str, method: str) -> MethodStats:
        return self._methods.setdefault((grpc_type, service, method), MethodStats())

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily]:
        handled = CounterMetricFamily(
            "grpc_server_handled",
            "RPCs completed on the server, by method and status code.",
            labels=[*_RPC_LABELS, "grpc_code"],
        )
        timing = HistogramMetricFamily(
            "grpc_server_handling_seconds", "Time to handle an RPC on the server.", labels=_RPC_LABELS
        )
        for labels, stats in list(self._methods.items()):
            for code, count in list(stats.handled.items()):
                handled.add_metric([*labels, code], count)
            counts, cumulative = list(stats.buckets), 0
            buckets = []
            for bound, count in zip([*map(floatToGoString, _BUCKETS), "+Inf"], counts, strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            timing.add_metric(list(labels), buckets, stats.seconds)
        yield handled
        yield timing


RPC_STATS = RpcStats()
REGISTRY.register(RPC_STATS)
LOGINS = Counter("authsvc_logins_total", "Login attempts by outcome.", ["outcome"])
REFRESH_REUSE = Counter("authsvc_refresh_reuse_total", "Refresh tokens replayed after the grace window.")
RATE_LIMITED = Counter(
    "authsvc_rate_limited_total", "Requests refused by a rate limit, by bucket.", ["bucket"]
)
TOKEN_CHECKS = Counter(
    "authsvc_token_checks_total",
    "Checks answered inside ValidateTokens calls (which count once in grpc_server_handled_total), "
    "by outcome: OK or the gRPC status of the refusal.",
    ["grpc_code"],
)
ENVOY_CHECKS = Counter(
    "authsvc_envoy_checks_total",
    "Envoy external authorization checks, by the HTTP status answered (200: allowed).",
    ["status"],
)
AUDIT_EVENTS = Counter("authsvc_audit_events_total", "Security events recorded, by kind.", ["event"])
MAIL = Counter(
    "authsvc_mail_total", "Mail from the outbox: sent, retried (a failed attempt), given up.", ["outcome"]
)
CATCH_UP_MARKERS = Counter(
    "authsvc_catch_up_markers_total",
    "Markers a replica sent itself before refusing an API key its live set lacks (one per round trip).",
)


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
    try:
        with _http_server(address, REGISTRY) as port:
            yield port
    finally:
        REGISTRY.unregister(collector)


@contextlib.contextmanager
def serving_sum(address: str, scrapes: Callable[[], list[Scrape]], workers: int) -> Iterator[int | None]:
    """A supervisor's /metrics: its workers' metrics added up (authsvc.metrics_sum)."""
    with _http_server(address, summed_registry(scrapes, workers)) as port:
        yield port


@contextlib.contextmanager
def _http_server(address: str, registry: CollectorRegistry) -> Iterator[int | None]:
    if not address:
        yield None
        return
    host, _, port = address.rpartition(":")
    server, _thread = start_http_server(int(port), addr=host or "127.0.0.1", registry=registry)
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
