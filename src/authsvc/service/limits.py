"""Applying rate limits: the names of the buckets and the error a refusal becomes."""

from __future__ import annotations

import logging

from authsvc.domain.errors import AuthError, ErrorCode
from authsvc.domain.rate_limits import RateLimit
from authsvc.service.ports import RateLimiter

log = logging.getLogger("authsvc.audit")


class Limits:
    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter

    async def take(self, bucket: str, subject: str, limit: RateLimit) -> None:
        """Counts one request of `subject` in `bucket`; RATE_LIMITED with Retry-After past the limit."""
        decision = await self._limiter.hit(_name(bucket, subject, limit), limit)
        if not decision.allowed:
            log.warning(
                "rate limit refused bucket=%s limit=%s retry_after=%ss", bucket, limit, decision.retry_after
            )
            raise AuthError(ErrorCode.RATE_LIMITED, retry_after=decision.retry_after)

    async def give_back(self, bucket: str, subject: str, limit: RateLimit) -> None:
        await self._limiter.refund(_name(bucket, subject, limit), limit)


def _name(bucket: str, subject: str, limit: RateLimit) -> str:
    # GCRA state only means something under the limit that wrote it: a new limit, a new bucket.
    return f"{bucket}:{limit}:{subject}"
