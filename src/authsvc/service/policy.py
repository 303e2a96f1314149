"""The tunable numbers of the use cases, taken from Settings by the bootstrap."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from authsvc.domain.permissions import DEFAULT_PERMISSIONS

MIN_ACCESS_TTL = 300  # 5 minutes
MAX_ACCESS_TTL = 30 * 24 * 3600  # 30 days


@dataclass(frozen=True, slots=True)
class Policy:
    access_token_ttl: int = 24 * 3600
    refresh_token_ttl: int = 30 * 24 * 3600  # inactivity: each rotation starts it again
    session_max_age: int = 90 * 24 * 3600  # absolute: no refresh outlives it
    refresh_grace: timedelta = timedelta(seconds=10)
    leeway: int = 30
    known_permissions: tuple[str, ...] = DEFAULT_PERMISSIONS
