"""What a scenario yields: one figure with its floor, its targets and the servers' resources."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Check:
    target: str  # as the issue states it, e.g. ">= 0.85 x floor"
    passed: bool
    score: float | None = None  # how much of the target was achieved: >= 1 meets it

    @classmethod
    def at_least(cls, target: str, value: float | None, minimum: float) -> Check:
        if value is None:
            return cls(target, False)
        return cls(target, value >= minimum, value / minimum)

    @classmethod
    def at_most(cls, target: str, value: float | None, maximum: float) -> Check:
        if value is None or value <= 0:
            return cls(target, False)
        return cls(target, value <= maximum, maximum / value)


@dataclass
class Figure:
    key: str  # "1a"
    title: str
    tool: str = "-"
    rate: float | None = None  # calls (or logins) per second
    p50_ms: float | None = None
    p99_ms: float | None = None
    floor_rate: float | None = None  # the floor's rate in the runs alternated with this one
    ratio: float | None = None
    versus: str = ""  # what `ratio` compares with, e.g. "gRPC floor 3,912/s"
    checks: list[Check] = field(default_factory=list)
    rss_mb: dict[str, float] = field(default_factory=dict)  # peak during this scenario, by process
    cpu_us_per_call: dict[str, float] = field(default_factory=dict)  # by process; "floor": in its runs
    db_per_call: float | None = None  # PostgreSQL round trips per call (backend wake-ups)
    verified: str = ""  # the status one real call got
    unexpected: int = 0  # responses with another outcome than expected (-1: tool cannot tell)
    client_cpu: float = 0.0  # cores the load tool used, on average
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None
