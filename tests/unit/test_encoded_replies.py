"""The hand-encoded ValidateToken(s) replies decode to the messages protobuf itself would write."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from authsvc.domain.plans import BudgetState
from authsvc.domain.principal import Principal, PrincipalKind
from authsvc.grpc_api import convert
from authsvc.grpc_api.encoded_replies import VALIDATE_TOKEN_LIMITS, EncodedReplies
from authsvc.v1 import auth_pb2

INT64 = st.integers(min_value=0, max_value=2**63 - 1)
STATES = st.lists(
    st.builds(BudgetState, st.text(max_size=40), INT64, INT64, INT64, INT64),
    max_size=5,
)
PRINCIPAL = Principal(
    kind=PrincipalKind.API_KEY,
    subject_id="k1",
    user_id="u1",
    workspace_id="w1",
    permissions=frozenset({"geofences:read"}),
    api_key_id="k1",
    environment="live",
    key_name="metered",
)


@given(STATES)
def test_a_charged_reply_holds_the_principal_and_every_state(states: list[BudgetState]) -> None:
    encoded = EncodedReplies().charged(PRINCIPAL, states, VALIDATE_TOKEN_LIMITS)
    reply = auth_pb2.ValidateTokenResponse.FromString(encoded)
    expected = auth_pb2.ValidateTokenResponse(
        principal=convert.principal(PRINCIPAL),
        rate_limits=[
            auth_pb2.RateLimitState(
                policy=s.policy,
                limit=s.limit,
                remaining=s.remaining,
                reset_seconds=s.reset_seconds,
                window_seconds=s.window_seconds,
            )
            for s in states
        ],
    )
    assert reply == expected


@given(STATES)
def test_a_batch_verdict_holds_them_too(states: list[BudgetState]) -> None:
    encoded = EncodedReplies().verdicts([(PRINCIPAL, tuple(states))])
    (verdict,) = auth_pb2.ValidateTokensResponse.FromString(encoded).verdicts
    assert verdict.principal.api_key_name == "metered"
    assert [
        (s.policy, s.limit, s.remaining, s.reset_seconds, s.window_seconds) for s in verdict.rate_limits
    ] == [tuple(s) for s in states]
