"""What a refresh request may do, given the state of its token and session (OAuth 2.0 Security BCP §4.14)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta


class RefreshDecision(enum.Enum):
    ROTATE = "rotate"  # the live token: retire it and issue its successor
    REPLAY = "replay"  # a token retired within the grace window: hand out the live successor again
    REUSE = "reuse"  # a token retired earlier: assume theft, revoke the whole session
    REJECT = "reject"  # session revoked or expired, user disabled, token expired


@dataclass(frozen=True, slots=True)
class RefreshState:
    token_retired_at: datetime | None
    token_expires_at: datetime
    session_revoked: bool
    session_expires_at: datetime
    user_disabled: bool


def decide(state: RefreshState, now: datetime, grace: timedelta) -> RefreshDecision:
    """Single use with a short grace window.

    Replaying within `grace` returns the same live successor (so retries and concurrent tabs don't
    log a user out, and no second live token ever exists); a replay after it revokes the session.
    """
    if state.session_revoked or state.user_disabled or state.session_expires_at <= now:
        return RefreshDecision.REJECT
    if state.token_retired_at is None:
        if state.token_expires_at <= now:
            return RefreshDecision.REJECT
        return RefreshDecision.ROTATE
    if now - state.token_retired_at <= grace:
        return RefreshDecision.REPLAY
    return RefreshDecision.REUSE
