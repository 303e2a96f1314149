"""One Prometheus scrape for several worker processes: each worker's own /metrics, read at scrape
time and added up series by series, so counters and histograms count every worker's calls.

Most series add up (calls, durations, memory, descriptors, pool connections). A few describe a
moment or a limit instead: those take the earliest (`*_created`, `process_start_time_seconds`) or
the largest (`process_max_fds`, `*_info`). A worker that does not answer is left out of that
scrape (`authsvc_workers_scraped` says how many answered); a restarted worker starts from zero,
which Prometheus' rate() reads as a counter reset.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

SCRAPE_TIMEOUT = 2.0
_EARLIEST = ("process_start_time_seconds",)
_LARGEST = ("process_max_fds",)


def _combine(name: str) -> Callable[[float, float], float]:
    if name.endswith("_created") or name in _EARLIEST:
        return min
    if name.endswith("_info") or name in _LARGEST:
        return max
    return lambda a, b: a + b


def add_up(texts: Iterable[str]) -> list[Metric]:
    """The families of every text exposition, each series combined across them."""
    families: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for text in texts:
        for family in text_string_to_metric_families(text):
            families.setdefault(family.name, Metric(family.name, family.documentation, family.type))
            series = values.setdefault(family.name, {})
            combine = _combine(family.name)
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                series[key] = combine(series[key], sample.value) if key in series else sample.value
    summed = []
    for name, family in families.items():
        for (sample_name, labels), value in values[name].items():
            family.add_sample(sample_name, dict(labels), value)
        summed.append(family)
    return summed


class SummedMetrics(Collector):
    """Collects, at each scrape, the sum of the metrics at `urls()`."""

    def __init__(self, urls: Callable[[], list[str]], workers: Callable[[], int]) -> None:
        self._urls = urls
        self._workers = workers
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="metrics-sum")

    def collect(self) -> Iterator[Metric]:
        texts = [text for text in self._pool.map(_fetch, self._urls()) if text is not None]
        yield from add_up(texts)
        running = GaugeMetricFamily("authsvc_workers", "Worker processes configured (--workers).")
        running.add_metric([], self._workers())
        yield running
        scraped = GaugeMetricFamily(
            "authsvc_workers_scraped", "Worker processes whose metrics this scrape adds up."
        )
        scraped.add_metric([], len(texts))
        yield scraped


def _fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=SCRAPE_TIMEOUT) as response:  # noqa: S310 (loopback)
            text: str = response.read().decode("utf-8")
            return text
    except OSError:
        return None


def summed_registry(urls: Callable[[], list[str]], workers: Callable[[], int]) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SummedMetrics(urls, workers))
    return registry
