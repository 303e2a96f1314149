"""The facade's own Prometheus metrics, served at /metrics: requests by route, method and status,
their latency, and the process's CPU, memory and file descriptors."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

# Labels never carry what a client typed: the route is the router's template
# ("/api/v1/api-keys/{id}", not the id), unknown paths are one "unmatched" route, and methods
# outside the usual few are "other". A scrape shows no key, token or path a client made up.
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
CLIENT_CLOSED = 499


@dataclass(frozen=True)
class HttpMetrics:
    """One registry per app, so two facades in one process (tests) never count each other's requests."""

    registry: CollectorRegistry
    requests: Counter
    duration: Histogram
    # The labelled children, looked up once: `labels()` validates and locks on every call. Few:
    # methods x routes x statuses the facade answers.
    _counted: dict[tuple[str, str, int], Any] = field(default_factory=dict)
    _timed: dict[tuple[str, str], Any] = field(default_factory=dict)

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        counted = self._counted.get((method, route, status))
        if counted is None:
            counted = self.requests.labels(method, route, str(status))
            self._counted[(method, route, status)] = counted
        timed = self._timed.get((method, route))
        if timed is None:
            timed = self._timed[(method, route)] = self.duration.labels(method, route)
        counted.inc()
        timed.observe(seconds)

    @classmethod
    def create(cls) -> HttpMetrics:
        registry = CollectorRegistry()
        for collector in (ProcessCollector, PlatformCollector, GCCollector):
            collector(registry=registry)
        requests = Counter(
            "http_requests_total",
            "HTTP requests answered, by method, route and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        duration = Histogram(
            "http_request_duration_seconds",
            "Time from receiving a request to its response, by method and route.",
            ["method", "route"],
            registry=registry,
        )
        return cls(registry, requests, duration)


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
