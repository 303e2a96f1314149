"""Plans and key limits: what the TOML says, and what a key may be given."""

from __future__ import annotations

import pytest

from authsvc.domain.errors import AuthError
from authsvc.domain.plans import UNLIMITED, Limits, PlansFileError, key_limits, parse_plans


def test_a_plans_file_names_plans_and_a_default() -> None:
    plans = parse_plans(
        'default = "free"\n[plans.free]\nrequests_per_minute = 60\n[plans.pro]\nrequests_per_day = 9\n'
    )
    assert plans.of(None) == Limits(60, None) and plans.of("pro") == Limits(None, 9)
    assert plans.of("gone-from-the-file") == Limits(60, None)  # the default, never unlimited
    assert UNLIMITED.of(None).by_window() == {}


@pytest.mark.parametrize(
    "text",
    [
        "",
        'default = "free"\n',
        'default = "free"\n[plans.free]\nrequests_per_minute = 0\n',
        'default = "free"\n[plans.free]\nrequests_per_minute = 1.5\n',
        'default = "free"\n[plans.free]\nrequests_per_minute = true\n',
        'default = "free"\n[plans.Free]\nrequests_per_minute = 1\n',
        "default = 3\n[plans.free]\nrequests_per_minute = 1\n",
        'default = "free"\nlimit = 3\n[plans.free]\nrequests_per_minute = 1\n',
    ],
)
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(PlansFileError):
        parse_plans(text)


def test_a_key_gets_at_most_its_plan() -> None:
    plan = Limits(100, 1000)
    assert key_limits(0, 0, plan) is None
    assert key_limits(10, 0, plan) == Limits(10, None)  # the plan still holds over the day
    assert key_limits(100, 1000, plan) == Limits(100, 1000)
    assert key_limits(5, 5, Limits()) == Limits(5, 5)  # an unlimited plan bounds nothing
    for asked in ((101, 0), (0, 1001), (-1, 0)):
        with pytest.raises(AuthError):
            key_limits(*asked, plan)
