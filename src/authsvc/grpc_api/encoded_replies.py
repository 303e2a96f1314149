"""ValidateToken(s) replies, encoded once per principal and reused as bytes.

The hot path answers the same few principals again and again, and their replies never change, so
they are kept already serialized. A `ValidateTokenResponse` and a `TokenVerdict` holding a
principal are the same bytes (field 1, the principal), and a `ValidateTokensResponse` is its
verdicts' bytes, each framed as field 1: a batch reply is a join, not a message tree.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from google.rpc import code_pb2, status_pb2

from authsvc.domain.errors import AuthError
from authsvc.domain.plans import BudgetState
from authsvc.domain.principal import Principal
from authsvc.grpc_api import convert
from authsvc.grpc_api.errors import STATUS_FOR, retry_status
from authsvc.v1 import auth_pb2

log = logging.getLogger(__name__)

_FIELD_1 = b"\x0a"  # field number 1, length-delimited
VALIDATE_TOKEN_LIMITS = b"\x12"  # ValidateTokenResponse.rate_limits: field 2, length-delimited
_VERDICT_LIMITS = b"\x1a"  # TokenVerdict.rate_limits: field 3, length-delimited
_INTERNAL = auth_pb2.TokenVerdict(
    refusal=status_pb2.Status(code=code_pb2.INTERNAL, message="Internal error")
).SerializeToString()


def serialize(reply: object) -> bytes:
    """The response serializer of every AuthService method: messages, or bytes encoded here."""
    if type(reply) is bytes:
        return reply
    return reply.SerializeToString()  # type: ignore[attr-defined,no-any-return]


def _framed(payload: bytes) -> bytes:
    return _FIELD_1 + _varint(len(payload)) + payload


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL = [_encode_varint(n) for n in range(1 << 14)]  # lengths, counts, seconds: mostly small
# The low 14 bits of a larger value: two bytes, each saying that more follow. With _SMALL, a
# budget's remaining count (up to 10^12) is two or three lookups, not a loop per 7 bits.
_LOW = [bytes(((n & 0x7F) | 0x80, (n >> 7) | 0x80)) for n in range(1 << 14)]


def _varint(value: int) -> bytes:
    if value < 16384:
        return _SMALL[value]
    if value < 268435456:  # 2^28
        return _LOW[value & 0x3FFF] + _SMALL[value >> 14]
    if value < 4398046511104:  # 2^42: a plan's 10^12 a day
        return _LOW[value & 0x3FFF] + _LOW[(value >> 14) & 0x3FFF] + _SMALL[value >> 28]
    return _LOW[value & 0x3FFF] + _varint(value >> 14)


class EncodedReplies:
    """Replies already encoded, by principal. Principals come and go with tokens (each access
    token's has its own session and expiry), so they are kept in two generations of
    `generation` entries: when the current one is full it becomes the previous one, whose
    entries move back on use and are otherwise dropped with it. Memory stays bounded by the
    principals in recent use (2,000 at most, principals held alive included: `make soak` makes a
    new one with every refresh), and a miss costs one encoding (a few µs)."""

    def __init__(self, generation: int = 1_000) -> None:
        self._principals: dict[Principal, bytes] = {}
        self._previous: dict[Principal, bytes] = {}
        self._refusals: dict[tuple[int, str], bytes] = {}
        self._generation = generation

    def principal(self, found: Principal) -> bytes:
        """A ValidateTokenResponse for `found`, which is also its TokenVerdict."""
        encoded = self._principals.get(found)
        if encoded is None:
            encoded = self._previous.pop(found, None)
            if encoded is None:
                encoded = _framed(convert.principal(found).SerializeToString())
            if len(self._principals) >= self._generation:
                self._previous, self._principals = self._principals, {}
            self._principals[found] = encoded
        return encoded

    def charged(
        self, found: Principal, limits: Iterable[BudgetState], field: bytes = _VERDICT_LIMITS
    ) -> bytes:
        """A reply holding `found` and where each limit it was charged to stands: a
        ValidateTokenResponse (`field` VALIDATE_TOKEN_LIMITS) or a TokenVerdict."""
        return self.principal(found) + _limits(limits, field)

    def refusal(self, error: AuthError) -> bytes:
        """The TokenVerdict of a check that ValidateToken would have failed with `error`."""
        if error.limits:  # over a limit: its RetryInfo and states vary, so never cached
            return _over_limit(error)
        code = STATUS_FOR[error.code].value[0]
        encoded = self._refusals.get((code, error.detail))
        if encoded is None:
            status = status_pb2.Status(code=code, message=error.detail)
            encoded = auth_pb2.TokenVerdict(refusal=status).SerializeToString()
            if len(self._refusals) < 1_000:  # details are fixed texts; bounded all the same
                self._refusals[code, error.detail] = encoded
        return encoded

    def verdicts(self, outcomes: Iterable[object]) -> bytes:
        """A ValidateTokensResponse: one verdict per outcome, in order."""
        parts = []
        for outcome in outcomes:
            if isinstance(outcome, Principal):
                verdict = self.principal(outcome)
            elif isinstance(outcome, tuple):  # charged: the principal and its limits
                verdict = self.charged(*outcome)
            elif isinstance(outcome, AuthError):
                verdict = self.refusal(outcome)
            else:
                failure = outcome if isinstance(outcome, BaseException) else None
                log.error("unexpected outcome of one of ValidateTokens' checks", exc_info=failure)
                verdict = _INTERNAL
            parts.append(_framed(verdict))
        return b"".join(parts)


_HEADS: dict[tuple[str, int, int], bytes] = {}


def _limits(limits: Iterable[BudgetState], field: bytes) -> bytes:
    """RateLimitState messages, encoded by hand: a charged call's reply is a hot path too. The
    fields that never change for a budget (policy, limit, window) are encoded once."""
    parts: list[bytes] = []
    for policy, limit, remaining, reset, window in limits:
        head = _HEADS.get((policy, limit, window))
        if head is None:
            head = auth_pb2.RateLimitState(
                policy=policy, limit=limit, window_seconds=window
            ).SerializeToString()
            if len(_HEADS) < 100_000:
                _HEADS[policy, limit, window] = head
        left, wait = _varint(remaining), _varint(reset)
        parts += (field, _varint(len(head) + len(left) + len(wait) + 2), head, b"\x18", left, b"\x20", wait)
    return b"".join(parts)


def _over_limit(error: AuthError) -> bytes:
    status = retry_status(error.detail, error.retry_after or 1)
    limits = [convert.rate_limit_state(state) for state in error.limits if isinstance(state, BudgetState)]
    return auth_pb2.TokenVerdict(refusal=status, rate_limits=limits).SerializeToString()
