"""Subscription plans: how many API requests a workspace may make per minute and per day, read
from the operator's TOML file. A key may be held to less than its workspace's plan, never more.

    default = "free"            # the plan of every workspace not given another
    [plans.free]
    requests_per_minute = 60
    requests_per_day = 10000
    [plans.pro]
    requests_per_minute = 6000  # either may be left out: no limit over that window

Without a file every workspace is on "unlimited": requests are counted, never refused.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from authsvc.domain.errors import invalid_argument

WINDOWS: dict[str, int] = {"minute": 60, "day": 86_400}  # the windows limits count over, in seconds
MAX_LIMIT = 10**12
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@dataclass(frozen=True, slots=True)
class Limits:
    """Requests per window; None: no limit over that window."""

    per_minute: int | None = None
    per_day: int | None = None

    def by_window(self) -> dict[str, int]:
        found = {"minute": self.per_minute, "day": self.per_day}
        return {window: limit for window, limit in found.items() if limit is not None}

    def within(self, other: Limits) -> bool:
        """Whether none of these limits is higher than `other`'s over the same window."""
        mine, theirs = self.by_window(), other.by_window()
        return all(limit <= theirs[window] for window, limit in mine.items() if window in theirs)


class Budget(NamedTuple):
    """One limit a charge counts against: `limit` requests per window of `seconds` for `subject`."""

    policy: str  # what clients see it called: "workspace-minute", "key-day"...
    subject: str  # whose count: "workspace:<id>", "key:<id>"
    window: str  # a key of WINDOWS
    limit: int
    seconds: int  # the window's length
    lease: int  # how much a replica draws of it at a time (adapters.usage_leases)


def lease_size(limit: int) -> int:
    """A twentieth of the limit, at most 10,000: what a replica draws of a budget at a time."""
    return max(1, min(10_000, limit // 20))


def budget(policy: str, subject: str, window: str, limit: int) -> Budget:
    return Budget(policy, subject, window, limit, WINDOWS[window], lease_size(limit))


class BudgetState(NamedTuple):
    """Where a budget stands after a charge (what the RateLimit headers tell)."""

    policy: str
    limit: int
    remaining: int
    reset_seconds: int
    window_seconds: int


@dataclass(frozen=True, slots=True)
class Plans:
    limits: Mapping[str, Limits]
    default: str

    def of(self, name: str | None) -> Limits:
        """A workspace's limits by its plan's name (None, or a plan no longer in the file: the
        default plan's)."""
        return self.limits.get(name or self.default) or self.limits[self.default]


UNLIMITED = Plans({"unlimited": Limits()}, "unlimited")


class PlansFileError(ValueError):
    """A plans file that does not describe plans; its text names the line at fault."""


def parse_plans(text: str) -> Plans:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PlansFileError(str(error)) from None
    plans = document.get("plans")
    if not isinstance(plans, dict) or not plans:
        raise PlansFileError("no [plans.NAME] table")
    unknown = sorted(set(document) - {"plans", "default"})
    if unknown:
        raise PlansFileError(f"line {_line_of(text, unknown[0])}: unknown setting {unknown[0]!r}")
    limits = {name: _limits(text, name, table) for name, table in plans.items()}
    default = document.get("default")
    if not isinstance(default, str) or default not in limits:
        raise PlansFileError(f"line {_line_of(text, 'default')}: default must name one of the plans")
    return Plans(limits, default)


def _limits(text: str, name: str, table: object) -> Limits:
    where = f"line {_line_of(text, f'[plans.{name}]')}"
    if not _NAME.match(name):
        raise PlansFileError(f"{where}: a plan name is lowercase letters, digits, - and _")
    if not isinstance(table, dict):
        raise PlansFileError(f"{where}: plans.{name} must be a table")
    counts = {}
    for key, value in table.items():
        if key not in ("requests_per_minute", "requests_per_day"):
            raise PlansFileError(f"{where}: unknown setting {key!r} in plan {name}")
        if type(value) is not int or not 1 <= value <= MAX_LIMIT:
            raise PlansFileError(
                f"{where}: {key} of plan {name} must be a whole number from 1 to {MAX_LIMIT}"
            )
        counts[key] = value
    return Limits(counts.get("requests_per_minute"), counts.get("requests_per_day"))


def _line_of(text: str, needle: str) -> int:
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip().startswith(needle):
            return number
    return 1


def check_plan_name(plans: Plans, name: str) -> str:
    if name not in plans.limits:
        raise invalid_argument(
            f"Unknown plan {name[:64]!r}: the plans are " + ", ".join(sorted(plans.limits))
        )
    return name


def key_limits(per_minute: int, per_day: int, plan: Limits) -> Limits | None:
    """A key's own limits as asked (0: none of its own over that window, the plan's applies),
    never above its workspace's plan; None when it asks for none."""
    if per_minute < 0 or per_day < 0:
        raise invalid_argument("rate_limit values must not be negative")
    if not (per_minute or per_day):
        return None
    asked = Limits(per_minute or None, per_day or None)
    if not asked.within(plan):
        shown = ", ".join(f"{n} per {w}" for w, n in plan.by_window().items()) or "unlimited"
        raise invalid_argument(f"rate_limit must not exceed the workspace's plan ({shown})")
    return asked
