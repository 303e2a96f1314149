"""Rounds of a scenario alternated with its floor, and the servers watched while the scenario runs.

This host's speed drifts by tens of percent from one second to the next, so a ratio taken from
two distant runs means little: each round measures the floor and the scenario back to back
(ABAB... with the order swapped every round), and the ratio compares their totals.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from bench import database, procstats
from bench.measure import Measurement, merge

Driver = Callable[[int], Awaitable[Measurement]]  # round number -> one measured run


@dataclass
class Outcome:
    scenario: Measurement
    floor: Measurement | None
    peak_rss_mb: dict[str, float]
    cpu_seconds: dict[str, float]  # by process, during the scenario's runs; "postgres": all its processes
    floor_cpu_seconds: float | None  # the floor process, during the floor's runs
    # PostgreSQL backend wake-ups during the scenario's runs, less what the same servers' background
    # work (health checks, usage flushes...) woke during the floor's runs, for as long
    db_round_trips: float | None


class Watch:
    """CPU (and, for the servers under test, peak RSS) of processes around some runs."""

    def __init__(self, pids: Mapping[str, int], postgres: bool = True) -> None:
        self.pids, self._postgres = dict(pids), postgres
        self.cpu = dict.fromkeys([*self.pids, *(["postgres"] if postgres else [])], 0.0)
        for pid in self.pids.values():
            procstats.reset_peak_rss(pid)

    def _now(self) -> tuple[dict[str, float], dict[int, float]]:
        ours = {name: procstats.cpu_seconds(pid) for name, pid in self.pids.items()}
        return ours, procstats.postgres_cpu_by_pid() if self._postgres else {}

    async def around(self, run: Awaitable[Measurement]) -> Measurement:
        before, pg_before = self._now()
        measured = await run
        after, pg_after = self._now()
        for name, seconds in after.items():
            self.cpu[name] += seconds - before[name]
        if self._postgres:  # backends that started meanwhile count in full, ones that ended are lost
            self.cpu["postgres"] += sum(s - pg_before.get(pid, 0.0) for pid, s in pg_after.items())
        return measured

    def peaks(self) -> dict[str, float]:
        return {name: procstats.peak_rss_mb(pid) or 0.0 for name, pid in self.pids.items()}


class Wakeups:
    """PostgreSQL backend wake-ups and wall time around runs (None: PostgreSQL runs elsewhere)."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self.count: int | None = 0
        self.seconds = 0.0

    async def around(self, run: Awaitable[Measurement]) -> Measurement:
        before, started = await database.backend_wakeups(self._dsn), time.perf_counter()
        measured = await run
        seconds, after = time.perf_counter() - started, await database.backend_wakeups(self._dsn)
        self.seconds += seconds
        if before is None or after is None or self.count is None:
            self.count = None
        else:  # a backend opened meanwhile counts in full
            self.count += sum(n - before.get(pid, 0) for pid, n in after.items())
        return measured


async def measure(
    dsn: str,
    watched: Mapping[str, int],
    scenario: Driver,
    rounds: int,
    floor: Driver | None = None,
    floor_pid: int | None = None,
) -> Outcome:
    watch = Watch(watched)
    floor_watch = Watch({"floor": floor_pid} if floor_pid else {}, postgres=False)
    ours_db, floor_db = Wakeups(dsn), Wakeups(dsn)
    ours: list[Measurement] = []
    floors: list[Measurement] = []
    for number in range(rounds):
        if floor is not None and number % 2 == 0:
            floors.append(await floor_db.around(floor_watch.around(floor(number))))
        ours.append(await ours_db.around(watch.around(scenario(number))))
        if floor is not None and number % 2 == 1:
            floors.append(await floor_db.around(floor_watch.around(floor(number))))
    round_trips: float | None = None
    if ours_db.count is not None:
        round_trips = float(ours_db.count)
        if floor_db.count is not None and floor_db.seconds > 0:
            background = floor_db.count * ours_db.seconds / floor_db.seconds
            round_trips = max(0.0, round_trips - background)
    return Outcome(
        scenario=merge(ours),
        floor=merge(floors) if floors else None,
        peak_rss_mb=watch.peaks(),
        cpu_seconds=watch.cpu,
        floor_cpu_seconds=floor_watch.cpu.get("floor"),
        db_round_trips=round_trips,
    )
