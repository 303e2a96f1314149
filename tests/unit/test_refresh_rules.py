"""The refresh decision table, with no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from authsvc.domain.refresh_rules import RefreshDecision, RefreshState, decide

NOW = datetime(2026, 1, 1, tzinfo=UTC)
GRACE = timedelta(seconds=10)


def state(**changes: object) -> RefreshState:
    base: dict[str, object] = {
        "token_retired_at": None,
        "token_expires_at": NOW + timedelta(days=1),
        "session_revoked": False,
        "session_expires_at": NOW + timedelta(days=30),
        "user_disabled": False,
    }
    base.update(changes)
    return RefreshState(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, RefreshDecision.ROTATE),
        ({"token_retired_at": NOW - timedelta(seconds=3)}, RefreshDecision.REPLAY),
        ({"token_retired_at": NOW - GRACE}, RefreshDecision.REPLAY),
        ({"token_retired_at": NOW - GRACE - timedelta(seconds=1)}, RefreshDecision.REUSE),
        ({"token_expires_at": NOW}, RefreshDecision.REJECT),
        ({"session_revoked": True}, RefreshDecision.REJECT),
        ({"session_revoked": True, "token_retired_at": NOW - timedelta(days=1)}, RefreshDecision.REJECT),
        ({"session_expires_at": NOW}, RefreshDecision.REJECT),
        ({"user_disabled": True}, RefreshDecision.REJECT),
    ],
)
def test_decide(changes: dict[str, object], expected: RefreshDecision) -> None:
    assert decide(state(**changes), NOW, GRACE) is expected
