"""Rounds of a scenario alternated with its floor, and the servers watched while the scenario runs.

This host's speed drifts by tens of percent from one second to the next, so a ratio taken from
two distant runs means little: each round measures the floor and the scenario back to back
(ABAB... with the order swapped every round), and the ratio compares their totals.
"""

from __future__ import annotations

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
    db_round_trips: int | None  # PostgreSQL backend wake-ups during the scenario and its floor runs


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


async def measure(
    dsn: str,
    watched: Mapping[str, int],
    scenario: Driver,
    rounds: int,
    floor: Driver | None = None,
    floor_pid: int | None = None,
) -> Outcome:
    wakeups_before = await database.backend_wakeups(dsn)
    watch = Watch(watched)
    floor_watch = Watch({"floor": floor_pid} if floor_pid else {}, postgres=False)
    ours: list[Measurement] = []
    floors: list[Measurement] = []
    for number in range(rounds):
        if floor is not None and number % 2 == 0:
            floors.append(await floor_watch.around(floor(number)))
        ours.append(await watch.around(scenario(number)))
        if floor is not None and number % 2 == 1:
            floors.append(await floor_watch.around(floor(number)))
    wakeups = await database.backend_wakeups(dsn)
    round_trips = None
    if wakeups is not None and wakeups_before is not None:  # a backend opened meanwhile counts in full
        round_trips = sum(n - wakeups_before.get(pid, 0) for pid, n in wakeups.items())
    return Outcome(
        scenario=merge(ours),
        floor=merge(floors) if floors else None,
        peak_rss_mb=watch.peaks(),
        cpu_seconds=watch.cpu,
        floor_cpu_seconds=floor_watch.cpu.get("floor"),
        db_round_trips=round_trips,
    )
