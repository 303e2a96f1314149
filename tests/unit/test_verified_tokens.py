"""The memo of verified access tokens: tokens in use stay, idle ones go, memory stays bounded."""

from __future__ import annotations

import pytest

from authsvc.domain.errors import AuthError, ErrorCode
from authsvc.domain.tokens import AccessClaims, scope_permissions
from authsvc.service.verified_tokens import Verified, VerifiedTokens

UUID = "00000000-0000-4000-8000-000000000000"
NOW = 1_000_000


def _entry(expires_at: int = NOW + 3600, scope: str = "a:read b:write") -> Verified[str]:
    claims = AccessClaims(
        user_id=UUID, workspace_id=UUID, session_id=UUID, jti=UUID,
        permissions=scope_permissions(scope), issued_at=NOW, expires_at=expires_at,
    )  # fmt: skip
    return Verified(claims, "principal")


def test_a_token_in_use_stays_and_an_idle_one_is_forgotten_within_two_idle_periods() -> None:
    memo: VerifiedTokens[str] = VerifiedTokens(1000, 0, idle_seconds=60)
    memo.put("busy", _entry())
    memo.put("idle", _entry())
    assert memo.get("busy", NOW) is not None and memo.get("idle", NOW) is not None
    for second in range(NOW, NOW + 300, 10):  # presented every 10 s for five minutes
        assert memo.get("busy", second) is not None
    assert memo.get("idle", NOW + 300) is None  # not presented since: verified again if it comes
    assert len(memo) == 1


def test_a_token_presented_after_one_idle_period_is_still_known() -> None:
    memo: VerifiedTokens[str] = VerifiedTokens(1000, 0, idle_seconds=60)
    memo.put("token", _entry())
    memo.get("other", NOW)  # the generations start turning
    assert memo.get("token", NOW + 70) is not None  # in the previous generation: brought back
    assert memo.get("token", NOW + 130) is not None


def test_refreshed_tokens_do_not_pile_up() -> None:
    memo: VerifiedTokens[str] = VerifiedTokens(100_000, 0, idle_seconds=60)
    for n in range(10_000):  # a new access token every 0.1 s, each presented a few times
        now = NOW + n // 10
        memo.put(f"token-{n}", _entry())
        assert memo.get(f"token-{n}", now) is not None
    assert len(memo) <= 2 * 60 * 10 + 10  # two idle periods' worth, not 10,000


def test_expired_tokens_are_refused_and_the_bound_holds() -> None:
    memo: VerifiedTokens[str] = VerifiedTokens(10, 0, idle_seconds=60)
    memo.put("old", _entry(expires_at=NOW - 1))
    with pytest.raises(AuthError) as refused:
        memo.get("old", NOW)
    assert refused.value.code is ErrorCode.TOKEN_EXPIRED and memo.get("old", NOW) is None
    for n in range(50):
        memo.put(f"t{n}", _entry())
    assert len(memo) <= 10


def test_one_permission_set_is_shared_by_every_token_of_a_scope() -> None:
    assert scope_permissions("a:read b:write") is scope_permissions("a:read b:write")
    assert scope_permissions("b:write a:read") == frozenset({"a:read", "b:write"})
