"""The supervisor's /metrics: the workers' expositions added up series by series."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from authsvc.metrics_sum import add_up


def _worker(calls: int, seconds: list[float], started: float, rss: float) -> str:
    registry = CollectorRegistry()
    counter = Counter("calls", "Calls.", ["method"], registry=registry)
    counter.labels("ValidateToken").inc(calls)
    histogram = Histogram("call_seconds", "Time.", registry=registry, buckets=(0.1, 1.0))
    for value in seconds:
        histogram.observe(value)
    Gauge("process_start_time_seconds", "Start.", registry=registry).set(started)
    Gauge("process_resident_memory_bytes", "RSS.", registry=registry).set(rss)
    return generate_latest(registry).decode()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_counters_histograms_and_memory_add_up_and_start_times_take_the_earliest() -> None:
    one = _worker(3, [0.05, 0.5], started=200.0, rss=10.0)
    two = _worker(4, [2.0], started=100.0, rss=30.0)
    registry = CollectorRegistry(auto_describe=False)

    class Summed:
        def collect(self):  # type: ignore[no-untyped-def]
            return add_up([one, two])

    registry.register(Summed())  # type: ignore[arg-type]
    summed = _samples(generate_latest(registry).decode())
    assert summed[("calls_total", (("method", "ValidateToken"),))] == 7
    assert summed[("call_seconds_bucket", (("le", "0.1"),))] == 1
    assert summed[("call_seconds_bucket", (("le", "1.0"),))] == 2
    assert summed[("call_seconds_bucket", (("le", "+Inf"),))] == 3
    assert summed[("call_seconds_count", ())] == 3
    assert summed[("call_seconds_sum", ())] == pytest.approx(2.55)
    assert summed[("process_start_time_seconds", ())] == 100.0
    assert summed[("process_resident_memory_bytes", ())] == 40.0
    created = {key: value for key, value in summed.items() if key[0].endswith("_created")}
    assert created  # when each series began: the earliest worker's
    for key, value in created.items():
        assert value == min(_samples(one)[key], _samples(two)[key])


def test_nothing_to_add_up_is_an_empty_exposition() -> None:
    assert add_up([]) == []
