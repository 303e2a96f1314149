"""Turning an Outcome (scenario and floor runs) into a Figure for the report."""

from __future__ import annotations

from bench.measure import Measurement
from bench.model import Check, Figure
from bench.paired import Outcome


def ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def describe(key: str, title: str, measured: Measurement, verified: str) -> Figure:
    return Figure(
        key=key,
        title=title,
        tool=measured.tool,
        rate=measured.rate,
        p50_ms=ms(measured.percentile(50)),
        p99_ms=ms(measured.percentile(99)),
        verified=verified,
        unexpected=measured.unexpected,
        client_cpu=measured.client_cpu / measured.seconds if measured.seconds else 0.0,
    )


def from_outcome(key: str, title: str, outcome: Outcome, verified: str, floor_name: str) -> Figure:
    """Figure with its ratio to the floor runs that alternated with it, and the servers' resources."""
    figure = describe(key, title, outcome.scenario, verified)
    calls = max(outcome.scenario.completed, 1)
    figure.rss_mb = {name: round(mb, 1) for name, mb in outcome.peak_rss_mb.items()}
    figure.cpu_us_per_call = {name: round(s / calls * 1e6, 1) for name, s in outcome.cpu_seconds.items()}
    if outcome.floor is not None and outcome.floor_cpu_seconds is not None and outcome.floor.completed:
        figure.cpu_us_per_call["floor"] = round(outcome.floor_cpu_seconds / outcome.floor.completed * 1e6, 1)
    if outcome.db_round_trips is not None:
        figure.db_per_call = outcome.db_round_trips / calls
    if outcome.floor is not None and outcome.floor.rate > 0 and figure.rate is not None:
        figure.floor_rate = outcome.floor.rate
        figure.ratio = figure.rate / outcome.floor.rate
        figure.versus = f"{floor_name} {outcome.floor.rate:,.0f}/s"
    return figure


def at_least_ratio(figure: Figure, minimum: float, what: str = "floor") -> Check:
    return Check.at_least(f">= {minimum:.2f} x {what}", figure.ratio, minimum)


def at_least_rate(figure: Figure, minimum: float, unit: str = "/s") -> Check:
    return Check.at_least(f">= {minimum:,.0f}{unit}", figure.rate, minimum)


def rss_within(figure: Figure, limit_mb: float) -> Check:
    worst = max(figure.rss_mb.values(), default=0.0)
    return Check.at_most(f"RSS <= {limit_mb:.0f} MB", worst, limit_mb)


def no_db_round_trip(figure: Figure) -> Check:
    """Health checks and the like add a few round trips a second: well under 0.01 per call."""
    return Check("no DB round trip", figure.db_per_call is not None and figure.db_per_call < 0.01)


def expected_outcomes(figure: Figure, expected: str) -> None:
    """Flags a run whose verification call or streamed outcomes were not what the scenario means."""
    if figure.verified != expected:
        figure.notes.append(f"verification call got {figure.verified}, expected {expected}")
    if figure.unexpected > 0:
        figure.notes.append(f"{figure.unexpected} responses were not {expected}")
