"""The facade's own Prometheus metrics, served at /metrics: requests by route, method and status,
their latency, and the process's CPU, memory and file descriptors."""

from __future__ import annotations

import bisect
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import aiohttp
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
SUM_TIMEOUT = 5.0  # for the supervisor's sum of the workers' metrics


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
        for (method, route, status), count in list(self.requests.items()):
            requests.add_metric([method, route, str(status)], count)
        duration = HistogramMetricFamily(
            "http_request_duration_seconds",
            "Time from receiving a request to its response, by method and route.",
            labels=["method", "route"],
        )
        for (method, route), counts in list(self.durations.items()):
            cumulative = list(itertools.accumulate(counts[:-1]))
            bounds = [*(floatToGoString(bound) for bound in BUCKETS), "+Inf"]
            duration.add_metric([method, route], list(zip(bounds, cumulative, strict=True)), counts[-1])
        yield requests
        yield duration


@dataclass(frozen=True)
class HttpMetrics:
    """One registry per app, so two facades in one process (tests) never count each other's requests.

    `summed_at`: this facade is one of several workers (`--workers`); /metrics answers with what
    the supervisor serves there, every worker's metrics added up, whichever worker is asked."""

    registry: CollectorRegistry
    counts: _RequestCounts
    summed_at: str | None = None

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        self.counts.record(method, route, status, seconds)

    @classmethod
    def create(cls, summed_at: str | None = None) -> HttpMetrics:
        registry = CollectorRegistry()
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=registry)
        counts = _RequestCounts()
        registry.register(counts)
        return cls(registry, counts, summed_at)


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
    metrics = request.app[METRICS]
    if metrics.summed_at is None:
        return _own(metrics)
    try:
        timeout = aiohttp.ClientTimeout(total=SUM_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(metrics.summed_at) as reply:
            reply.raise_for_status()
            body = await reply.read()
    except (aiohttp.ClientError, TimeoutError):
        raise web.HTTPServiceUnavailable(reason="The workers' metrics could not be added up") from None
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _own(metrics: HttpMetrics) -> web.Response:
    body = generate_latest(metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


@contextlib.asynccontextmanager
async def own_metrics_served(metrics: HttpMetrics) -> AsyncIterator[str]:
    """A worker's own metrics on a loopback port, for its supervisor to add up; yields the URL.
    Served by this event loop, the one thread that updates the counts."""
    app = web.Application()
    app.router.add_get("/metrics", lambda _request: _own_reply(metrics))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/metrics"
    finally:
        await runner.cleanup()


async def _own_reply(metrics: HttpMetrics) -> web.Response:
    return _own(metrics)
