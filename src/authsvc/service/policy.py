"""The tunable numbers of the use cases, taken from Settings by the bootstrap."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from authsvc.domain.api_key_format import ENVIRONMENTS
from authsvc.domain.api_key_lifetime import YEAR
from authsvc.domain.networks import DEFAULT_IPV6_PREFIX
from authsvc.domain.password_policy import DEFAULT_MIN_LENGTH
from authsvc.domain.permissions import DEFAULT_PERMISSIONS
from authsvc.domain.rate_limits import RateLimit


@dataclass(frozen=True, slots=True)
class Policy:
    access_token_ttl: int = 24 * 3600
    refresh_token_ttl: int = 30 * 24 * 3600  # inactivity: each rotation starts it again
    session_max_age: int = 90 * 24 * 3600  # absolute: no refresh outlives it
    refresh_grace: timedelta = timedelta(seconds=10)
    leeway: int = 30
    known_permissions: tuple[str, ...] = DEFAULT_PERMISSIONS
    key_environments: tuple[str, ...] = ENVIRONMENTS  # the API key environments accepted here
    login_per_ip: RateLimit = RateLimit(5, 60)  # the public doc's promise
    refresh_per_user: RateLimit = RateLimit(10, 60)  # the public doc's promise
    login_failures_per_account: RateLimit = RateLimit(100, 3600)  # OWASP ASVS 2.2.1
    login_known_network_seconds: int = 30 * 86400  # a network the account logged in from this lately
    api_key_max_lifetime: int = YEAR  # the longest expiry a new API key may be given
    ipv6_limit_prefix: int = DEFAULT_IPV6_PREFIX  # per-client limits count an IPv6 client by this network
    password_min_length: int = DEFAULT_MIN_LENGTH  # characters, for every new password
    password_reset_limit: RateLimit = RateLimit(10, 3600)  # confirmations per client network and per account
    # Invitations made, and acceptances tried, per client network and per address.
    invitation_limit: RateLimit = RateLimit(30, 3600)
    invitation_lifetime: int = 72 * 3600  # seconds an invitation stays open
