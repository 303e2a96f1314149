"""When an API key stops validating: chosen once at creation, checked at every validation
against the replica's clock (so every replica refuses it at the same moment, with no query and
no message needed to notice)."""

from __future__ import annotations

from datetime import datetime, timedelta

from authsvc.domain.errors import AuthError, ErrorCode, invalid_argument

EXPIRED = "API key expired"  # the 401 detail once a key's time is up
YEAR = 365 * 86_400
MAX_OVERLAP = 7 * 86_400  # how long a rotated-away secret may keep validating


def expiry(
    now: datetime, longest: int, at: datetime | None = None, in_seconds: int | None = None
) -> datetime | None:
    """The moment a new key expires (None: never), from a time or a number of seconds, each of
    which must fall within `longest` seconds from `now`."""
    if at is not None and in_seconds is not None:
        raise invalid_argument("Give expires_at or expires_in_seconds, not both")
    if in_seconds is not None:
        if not 1 <= in_seconds <= longest:
            raise invalid_argument(f"expires_in_seconds must be between 1 and {longest}")
        return now + timedelta(seconds=in_seconds)
    if at is not None:
        if at <= now:
            raise invalid_argument("expires_at must be in the future")
        if at > now + timedelta(seconds=longest):
            raise invalid_argument(f"expires_at must be at most {longest} seconds from now")
    return at


def check_unexpired(expires_at: datetime | None, now: datetime) -> None:
    """Refuses a key whose time is up (TOKEN_EXPIRED, "API key expired")."""
    if expires_at is not None and now >= expires_at:
        raise AuthError(ErrorCode.TOKEN_EXPIRED, EXPIRED)


def overlap_end(now: datetime, seconds: int) -> datetime:
    """When a secret a rotation replaces stops validating."""
    if not 0 <= seconds <= MAX_OVERLAP:
        raise invalid_argument(f"overlap_seconds must be between 0 and {MAX_OVERLAP}")
    return now + timedelta(seconds=seconds)
