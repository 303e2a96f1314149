"""Rate-limit policies and the GCRA arithmetic behind them.

GCRA (the generic cell rate algorithm) keeps one timestamp per key, the "theoretical arrival
time" (TAT). A limit of `count` per `period` admits a request when TAT - now <= period - T, where
T = period / count is the emission interval, and then moves TAT to max(TAT, now) + T. It allows
a burst of `count` and then one request every T: unlike a fixed window it never admits a double
burst across a window boundary, and unlike a sliding log it stores one value per key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class RateLimit:
    count: int
    period_seconds: float

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """ "5/60" is 5 requests per 60 seconds."""
        count, _, period = text.partition("/")
        limit = cls(int(count), float(period))
        if limit.count < 1 or limit.period_seconds <= 0:
            raise ValueError(text)
        return limit

    @property
    def emission_interval(self) -> timedelta:
        return timedelta(seconds=self.period_seconds / self.count)

    @property
    def tolerance(self) -> timedelta:
        return timedelta(seconds=self.period_seconds) - self.emission_interval

    def spec(self) -> str:
        """What `parse` reads back: "5/60"."""
        return f"{self.count}/{self.period_seconds:g}"

    def __str__(self) -> str:
        return f"{self.count}/{self.period_seconds:g}s"


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    retry_after: int  # whole seconds until a request would pass; 0 when allowed


def retry_after_seconds(tat_minus_now: timedelta, limit: RateLimit) -> int:
    """Honest wait: until TAT - now falls back to the tolerance, rounded up to whole seconds."""
    wait = (tat_minus_now - limit.tolerance).total_seconds()
    return max(1, math.ceil(wait))
