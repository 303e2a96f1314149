"""The supervisor's /metrics: the workers' expositions added up series by series, over real HTTP
(each "worker" a prometheus_client server on a loopback port), never going backwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from authsvc.metrics_sum import Exposition, SummedMetrics, add_up
from authsvc.workers import Scrape


def _registry(calls: int, seconds: list[float], started: float, rss: float) -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("calls", "Calls.", ["method"], registry=registry).labels("ValidateToken").inc(calls)
    histogram = Histogram("call_seconds", "Time.", registry=registry, buckets=(0.1, 1.0))
    for value in seconds:
        histogram.observe(value)
    Gauge("process_start_time_seconds", "Start.", registry=registry).set(started)
    Gauge("process_resident_memory_bytes", "RSS.", registry=registry).set(rss)
    return registry


def _samples(families: object) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = families if isinstance(families, str) else _exposed(families)  # type: ignore[arg-type]
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _exposed(collector: SummedMetrics) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return generate_latest(registry).decode()


CALLS = ("calls_total", (("method", "ValidateToken"),))


def test_counters_histograms_and_memory_add_up_and_start_times_take_the_earliest() -> None:
    one = Exposition.parse(generate_latest(_registry(3, [0.05, 0.5], started=200.0, rss=10.0)).decode())
    two = Exposition.parse(generate_latest(_registry(4, [2.0], started=100.0, rss=30.0)).decode())

    class Summed:
        def collect(self):  # type: ignore[no-untyped-def]
            return add_up([one, two])

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Summed())  # type: ignore[arg-type]
    summed = _samples(generate_latest(registry).decode())
    assert summed[CALLS] == 7
    assert summed[("call_seconds_bucket", (("le", "0.1"),))] == 1
    assert summed[("call_seconds_bucket", (("le", "1.0"),))] == 2
    assert summed[("call_seconds_bucket", (("le", "+Inf"),))] == 3
    assert summed[("call_seconds_count", ())] == 3
    assert summed[("call_seconds_sum", ())] == pytest.approx(2.55)
    assert summed[("process_start_time_seconds", ())] == 100.0
    assert summed[("process_resident_memory_bytes", ())] == 40.0
    assert not [name for name, _ in summed if name.endswith("_created")]  # one per worker would mislead


@contextmanager
def _served(registry: CollectorRegistry) -> Iterator[str]:
    server, _thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        yield f"http://127.0.0.1:{server.server_port}/metrics"
    finally:
        server.shutdown()
        server.server_close()


def test_the_sum_never_goes_back_when_a_worker_is_silent_or_replaced() -> None:
    scrapes: list[Scrape] = []
    summed = SummedMetrics(lambda: list(scrapes), workers=2, fresh_for=0.0)  # each scrape asks again
    first, second = _registry(5, [], 1.0, 1.0), _registry(7, [], 1.0, 1.0)
    with _served(first) as one, _served(second) as two:
        scrapes[:] = [Scrape(1, 101, one), Scrape(2, 102, two)]
        assert _samples(summed)[CALLS] == 12
        assert _samples(summed)[("authsvc_workers_scraped", ())] == 2
    # Both stopped answering (a slow scrape, a worker being restarted): their last counts stand.
    silent = _samples(summed)
    assert silent[CALLS] == 12 and silent[("authsvc_workers_scraped", ())] == 0
    # Worker 1 replaced by a new process that counted 2 so far: 5 + 2 + 7, not 2 + 7.
    with _served(_registry(2, [], 1.0, 1.0)) as newcomer:
        scrapes[:] = [Scrape(1, 201, newcomer), Scrape(2, 102, two)]
        assert _samples(summed)[CALLS] == 14
