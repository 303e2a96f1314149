"""The facade's own Prometheus metrics, served at /metrics: requests by route, method and status,
their latency, and the process's CPU, memory and file descriptors."""

from __future__ import annotations

import bisect
import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

# Labels never carry what a client typed: the route is the router's template
# ("/api/v1/api-keys/{id}", not the id), unknown paths are one "unmatched" route, and methods
# outside the usual few are "other". A scrape shows no key, token or path a client made up.
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
CLIENT_CLOSED = 499


# Prometheus' default buckets, as the client library's Histogram used here before.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


class _RequestCounts(Collector):
    """Requests by method, route and status, and their durations by method and route, counted
    with plain integers and read out when scraped. The client library's Counter and Histogram
    take a lock and look their child up on every request, which showed on the facade's hot path;
    the facade counts in its one event loop thread and is scraped there, so no lock is needed."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, int], int] = {}
        self.durations: dict[tuple[str, str], list[float]] = {}  # per bucket, +Inf, then the sum

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        counts = self.durations.get((method, route))
        if counts is None:
            counts = self.durations[(method, route)] = [0.0] * (len(BUCKETS) + 2)
        counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        counts[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "http_requests", "HTTP requests answered, by method, route and status.",
            labels=["method", "route", "status"],
        )  # fmt: skip
        for (method, route, status), count in self.requests.items():
            requests.add_metric([method, route, str(status)], count)
        duration = HistogramMetricFamily(
            "http_request_duration_seconds",
            "Time from receiving a request to its response, by method and route.",
            labels=["method", "route"],
        )
        for (method, route), counts in self.durations.items():
            cumulative = list(itertools.accumulate(counts[:-1]))
            bounds = [*(floatToGoString(bound) for bound in BUCKETS), "+Inf"]
            duration.add_metric([method, route], list(zip(bounds, cumulative, strict=True)), counts[-1])
        yield requests
        yield duration


@dataclass(frozen=True)
class HttpMetrics:
    """One registry per app, so two facades in one process (tests) never count each other's requests."""

    registry: CollectorRegistry
    counts: _RequestCounts

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        self.counts.record(method, route, status, seconds)

    @classmethod
    def create(cls) -> HttpMetrics:
        registry = CollectorRegistry()
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=registry)
        counts = _RequestCounts()
        registry.register(counts)
        return cls(registry, counts)


METRICS = web.AppKey("metrics", HttpMetrics)


def route_of(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


@web.middleware
async def measured(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Counts and times every request, outermost, so it sees the status the client gets."""
    started = time.perf_counter()
    status = CLIENT_CLOSED  # unless a response or an HTTP exception says otherwise: cancelled
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as error:  # below 400 (the JSON middleware answers the rest)
        status = error.status
        raise
    finally:
        method = request.method if request.method in METHODS else "other"
        route = route_of(request)
        request.app[METRICS].record(method, route, status, time.perf_counter() - started)


async def serve(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
