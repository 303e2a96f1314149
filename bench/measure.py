"""One timed run of a load tool, and what it measured: completions, outcomes, latencies, client CPU."""

from __future__ import annotations

import resource
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Measurement:
    tool: str
    completed: int  # responses of any outcome
    unexpected: int  # responses that were not the expected outcome (-1: the tool cannot tell)
    seconds: float
    latencies: list[float] = field(repr=False)  # seconds
    client_cpu: float = 0.0  # CPU seconds the load tool itself used

    @property
    def rate(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, p: float) -> float | None:
        """Latency at percentile p (0-100), in seconds; None without samples."""
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else None
        return statistics.quantiles(self.latencies, n=1000, method="inclusive")[round(p * 10) - 1]


def merge(parts: Sequence[Measurement]) -> Measurement:
    """Rounds of one scenario taken together: totals over total time, latencies pooled."""
    unknown = any(p.unexpected < 0 for p in parts)
    return Measurement(
        tool=parts[0].tool,
        completed=sum(p.completed for p in parts),
        unexpected=-1 if unknown else sum(p.unexpected for p in parts),
        seconds=sum(p.seconds for p in parts),
        latencies=[x for p in parts for x in p.latencies],
        client_cpu=sum(p.client_cpu for p in parts),
    )


class ChildCpu:
    """CPU seconds used by child processes that finished inside the `with` block."""

    def __enter__(self) -> ChildCpu:
        self._start = self._now()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = self._now() - self._start

    @staticmethod
    def _now() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime
