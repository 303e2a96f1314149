"""Applying rate limits: the names of the buckets and the error a refusal becomes."""

from __future__ import annotations

from authsvc.domain.audit import AuditEvent, AuditKind
from authsvc.domain.errors import AuthError, ErrorCode
from authsvc.domain.rate_limits import RateLimit
from authsvc.service.ports import AuditLog, Clock, RateLimiter


class Limits:
    def __init__(self, limiter: RateLimiter, audit: AuditLog, clock: Clock) -> None:
        self._limiter = limiter
        self._audit = audit
        self._clock = clock

    async def take(
        self, bucket: str, subject: str, limit: RateLimit, client_ip: str, within: RateLimiter | None = None
    ) -> None:
        """Counts one request of `subject` in `bucket`; RATE_LIMITED with Retry-After past the limit.

        `within`: a unit of work's limiter, so the hit commits or rolls back with what it allows.
        """
        decision = await (within or self._limiter).hit(_name(bucket, subject, limit), limit)
        if not decision.allowed:
            self._audit.record(
                AuditEvent(
                    AuditKind.RATE_LIMIT_REFUSED,
                    self._clock.now(),
                    subject_id=f"{bucket}:{limit}",
                    client_ip=client_ip,
                    detail=f"retry after {decision.retry_after}s",
                    bucket=bucket,
                )
            )
            raise AuthError(ErrorCode.RATE_LIMITED, retry_after=decision.retry_after)

    async def give_back(self, bucket: str, subject: str, limit: RateLimit) -> None:
        await self._limiter.refund(_name(bucket, subject, limit), limit)


def _name(bucket: str, subject: str, limit: RateLimit) -> str:
    # GCRA state only means something under the limit that wrote it: a new limit, a new bucket.
    return f"{bucket}:{limit}:{subject}"
