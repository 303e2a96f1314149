"""One Prometheus scrape for several worker processes: each worker's own /metrics, read at scrape
time and added up series by series, so counters and histograms count every worker's calls.

Most series add up (calls, durations, memory, descriptors, pool connections). A few describe a
moment or a limit instead: those take the earliest (`process_start_time_seconds`) or the largest
(`process_max_fds`, `*_info`). `*_created` series are left out (they are optional, and one per
worker would not say when the sum began).

Counters must never go down, or Prometheus reads a reset and `rate()` shows a spike as large as
every worker's total. So a worker that does not answer a scrape counts with what it answered last,
and when a worker is replaced (a new pid in its place) the counts its predecessor reached are kept
and added to the newcomer's: the sum only loses what a dead worker counted after its last scrape.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from authsvc.workers import Scrape

SCRAPE_TIMEOUT = 2.0
FRESH_FOR = 1.0  # a sum this recent is served again: a burst of scrapes costs the workers once
_EARLIEST = ("process_start_time_seconds",)
_LARGEST = ("process_max_fds",)
_CUMULATIVE = ("counter", "histogram", "summary")
# Loopback only: never through whatever HTTP proxy the environment names.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

SeriesKey = tuple[str, str, tuple[tuple[str, str], ...]]  # family, sample name, sorted labels


@dataclass
class Exposition:
    """One worker's metrics: each family's documentation and type, and every sample's value."""

    families: dict[str, tuple[str, str]] = field(default_factory=dict)
    values: dict[SeriesKey, float] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> Exposition:
        parsed = cls()
        for family in text_string_to_metric_families(text):
            if family.name.endswith("_created"):
                continue
            parsed.families[family.name] = (family.documentation, family.type)
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                parsed.values[(family.name, sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return parsed

    def cumulative(self) -> dict[SeriesKey, float]:
        """The series that only grow in a process's life (counters, histograms, summaries)."""
        return {key: value for key, value in self.values.items() if self.families[key[0]][1] in _CUMULATIVE}


def _combine(name: str) -> Callable[[float, float], float]:
    if name in _EARLIEST:
        return min
    if name.endswith("_info") or name in _LARGEST:
        return max
    return lambda a, b: a + b


def add_up(expositions: Iterable[Exposition]) -> list[Metric]:
    """The families of every exposition, each series combined across them."""
    families: dict[str, Metric] = {}
    values: dict[SeriesKey, float] = {}
    for exposition in expositions:
        for name, (documentation, kind) in exposition.families.items():
            families.setdefault(name, Metric(name, documentation, kind))
        for key, value in exposition.values.items():
            values[key] = _combine(key[0])(values[key], value) if key in values else value
    for (name, sample_name, labels), value in values.items():
        families[name].add_sample(sample_name, dict(labels), value)
    return list(families.values())


class SummedMetrics(Collector):
    """Collects, at each scrape, the sum of the metrics of `scrapes()`, never going backwards."""

    def __init__(
        self, scrapes: Callable[[], list[Scrape]], workers: int, fresh_for: float = FRESH_FOR
    ) -> None:
        self._scrapes = scrapes
        self._fresh_for = fresh_for
        self._workers = workers
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="metrics-sum")
        self._lock = threading.Lock()  # one scrape of the workers at a time
        self._last: dict[int, tuple[int, Exposition]] = {}  # by slot: the pid and what it said last
        self._carried = Exposition()  # what replaced workers had counted, by series
        self._cached: tuple[float, list[Metric]] | None = None

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] >= self._fresh_for:
                self._cached = (time.monotonic(), self._sum())
            yield from self._cached[1]

    def _sum(self) -> list[Metric]:
        scrapes = self._scrapes()
        fetched = list(self._pool.map(_fetch, [scrape.url for scrape in scrapes]))
        answered = 0
        for scrape, exposition in zip(scrapes, fetched, strict=True):
            last = self._last.get(scrape.slot)
            if last is not None and last[0] != scrape.pid:  # replaced: keep what the last one counted
                self._carry(last[1])
                del self._last[scrape.slot]
            if exposition is not None:
                answered += 1
                self._last[scrape.slot] = (scrape.pid, exposition)
        summed = add_up([*(exposition for _, exposition in self._last.values()), self._carried])
        running = GaugeMetricFamily("authsvc_workers", "Worker processes configured (--workers).")
        running.add_metric([], self._workers)
        scraped = GaugeMetricFamily(
            "authsvc_workers_scraped",
            "Worker processes that answered this scrape (the others count with their last answer).",
        )
        scraped.add_metric([], answered)
        return [*summed, running, scraped]

    def _carry(self, exposition: Exposition) -> None:
        for name, described in exposition.families.items():
            if described[1] in _CUMULATIVE:
                self._carried.families.setdefault(name, described)
        for key, value in exposition.cumulative().items():
            self._carried.values[key] = self._carried.values.get(key, 0.0) + value


def _fetch(url: str) -> Exposition | None:
    """A worker's metrics; None when it does not answer, or not with an exposition."""
    try:
        with _OPENER.open(url, timeout=SCRAPE_TIMEOUT) as response:
            return Exposition.parse(response.read().decode("utf-8"))
    except (OSError, ValueError):  # refused, timed out; not UTF-8 or not the text format
        return None


def summed_registry(scrapes: Callable[[], list[Scrape]], workers: int) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SummedMetrics(scrapes, workers))
    return registry
