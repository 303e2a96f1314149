"""Settings: read once from AUTHSVC_* environment variables, then frozen."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from authsvc.domain.api_key_format import ENVIRONMENTS
from authsvc.domain.networks import Network, parse_networks
from authsvc.domain.permissions import CORE_PERMISSIONS, DEFAULT_PERMISSIONS, is_well_formed
from authsvc.domain.rate_limits import RateLimit
from authsvc.domain.tokens import MAX_ACCESS_TTL, MIN_ACCESS_TTL
from authsvc.env_config import ConfigError, EnvReader
from authsvc.service.policy import Policy


def _default_data_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "authsvc"


_POLICY = Policy()  # the use cases' numbers: their defaults are the settings' defaults


@dataclass(frozen=True)
class Settings:
    database_url: str | None = field(default=None, repr=False)  # may hold a password
    data_dir: Path = field(default_factory=lambda: _default_data_dir(os.environ))
    jwt_secret: bytes | None = field(default=None, repr=False)
    jwt_issuer: str = "authsvc"
    jwt_audience: str = "authsvc"
    jwt_leeway_seconds: int = _POLICY.leeway
    bcrypt_cost: int = 12
    access_token_ttl_seconds: int = _POLICY.access_token_ttl
    refresh_token_ttl_seconds: int = _POLICY.refresh_token_ttl
    session_max_age_seconds: int = _POLICY.session_max_age
    refresh_grace_seconds: int = int(_POLICY.refresh_grace.total_seconds())
    grpc_address: str = "127.0.0.1:50051"
    shutdown_grace_seconds: float = 10.0
    db_pool_min: int = 2
    db_pool_max: int = 10
    last_used_flush_seconds: float = 10.0
    permissions: tuple[str, ...] = DEFAULT_PERMISSIONS
    api_key_environments: tuple[str, ...] = ENVIRONMENTS
    bootstrap_admin_email: str | None = None
    bootstrap_admin_password: str | None = field(default=None, repr=False)
    bootstrap_workspace: str = "default"
    log_level: str = "INFO"
    metrics_address: str = "127.0.0.1:9464"
    signing_algorithm: str = "HS256"
    key_activation_seconds: float = 5.0
    validation_cache_seconds: float = 300.0
    validation_cache_entries: int = 100_000
    verified_token_cache_entries: int = 100_000
    login_rate_limit: RateLimit = _POLICY.login_per_ip
    refresh_rate_limit: RateLimit = _POLICY.refresh_per_user
    login_account_failure_limit: RateLimit = _POLICY.login_failures_per_account
    login_known_network_seconds: int = _POLICY.login_known_network_seconds
    # Callers presenting one of these tokens may name the client IP (x-forwarded-for)...
    proxy_tokens: tuple[str, ...] = field(default=(), repr=False)
    # ...from these networks only (None: from any address).
    trusted_proxies: tuple[Network, ...] | None = None
    ipv6_limit_prefix: int = _POLICY.ipv6_limit_prefix

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Builds Settings; a configured deployment (database URL set) must also set the secret."""
        env = os.environ if env is None else env
        d = cls()  # each default is written once, on the fields above

        read = EnvReader("AUTHSVC_", env)
        get, number = read.text, read.whole

        def seconds(name: str, default: float, low: float = 0.0, high: float = 86_400.0) -> float:
            return read.number(name, default, low, high, "a number of seconds")

        secret_hex = get("JWT_SECRET")
        secret = None
        if secret_hex is not None:
            try:
                secret = bytes.fromhex(secret_hex)
            except ValueError:
                raise ConfigError("AUTHSVC_JWT_SECRET must be hex (e.g. `openssl rand -hex 32`)") from None
            if len(secret) < 32:
                raise ConfigError("AUTHSVC_JWT_SECRET must hold at least 256 bits (64 hex digits)")
        database_url = get("DATABASE_URL")
        if database_url is not None and secret is None:
            raise ConfigError(
                "AUTHSVC_JWT_SECRET is required when AUTHSVC_DATABASE_URL is set: replicas must "
                "share one signing secret"
            )
        permissions = tuple(p.strip() for p in (get("PERMISSIONS") or "").split(",") if p.strip())
        for permission in permissions:
            if not is_well_formed(permission):
                raise ConfigError(f"AUTHSVC_PERMISSIONS: {permission!r} is not resource:action")
        bcrypt_cost = number("BCRYPT_COST", d.bcrypt_cost, 10, 31)
        environments = tuple(e.strip() for e in (get("API_KEY_ENVIRONMENTS") or "").split(",") if e.strip())
        if not set(environments) <= set(ENVIRONMENTS):
            raise ConfigError("AUTHSVC_API_KEY_ENVIRONMENTS lists live, test or both (e.g. live)")

        def rate(name: str, default: RateLimit) -> RateLimit:
            try:
                return RateLimit.parse(get(name) or default.spec())
            except ValueError:
                raise ConfigError(
                    f"AUTHSVC_{name} must look like COUNT/SECONDS, e.g. {default.spec()}"
                ) from None

        proxy_tokens = read.tokens("PROXY_TOKENS")
        trusted: tuple[Network, ...] | None = None
        if "AUTHSVC_TRUSTED_PROXIES" in env:  # set, even empty (then: no network may)
            try:
                trusted = parse_networks(env["AUTHSVC_TRUSTED_PROXIES"])
            except ValueError as error:
                raise ConfigError(f"AUTHSVC_TRUSTED_PROXIES: {error}") from None
        algorithm = get("SIGNING_ALGORITHM") or d.signing_algorithm
        if algorithm not in ("HS256", "EdDSA"):
            raise ConfigError("AUTHSVC_SIGNING_ALGORITHM must be HS256 or EdDSA")
        log_level = (get("LOG_LEVEL") or d.log_level).upper()
        if log_level not in logging.getLevelNamesMapping():
            raise ConfigError("AUTHSVC_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        pool = (number("DB_POOL_MIN", d.db_pool_min, 0, 1000), number("DB_POOL_MAX", d.db_pool_max, 1, 1000))
        if pool[0] > pool[1]:
            raise ConfigError("AUTHSVC_DB_POOL_MIN must not exceed AUTHSVC_DB_POOL_MAX")
        data_dir = get("DATA_DIR")
        return cls(
            database_url=database_url,
            data_dir=Path(data_dir) if data_dir else _default_data_dir(env),
            jwt_secret=secret,
            jwt_issuer=get("JWT_ISSUER") or d.jwt_issuer,
            jwt_audience=get("JWT_AUDIENCE") or d.jwt_audience,
            jwt_leeway_seconds=number("JWT_LEEWAY_SECONDS", d.jwt_leeway_seconds, 0, 300),
            bcrypt_cost=bcrypt_cost,
            access_token_ttl_seconds=number(
                "ACCESS_TOKEN_TTL_SECONDS", d.access_token_ttl_seconds, MIN_ACCESS_TTL, MAX_ACCESS_TTL
            ),
            refresh_token_ttl_seconds=number(
                "REFRESH_TOKEN_TTL_SECONDS", d.refresh_token_ttl_seconds, 60, 365 * 86_400
            ),
            session_max_age_seconds=number(
                "SESSION_MAX_AGE_SECONDS", d.session_max_age_seconds, 60, 365 * 86_400
            ),
            refresh_grace_seconds=number("REFRESH_GRACE_SECONDS", d.refresh_grace_seconds, 0, 300),
            grpc_address=get("GRPC_ADDRESS") or d.grpc_address,
            shutdown_grace_seconds=seconds("SHUTDOWN_GRACE_SECONDS", d.shutdown_grace_seconds),
            db_pool_min=pool[0],
            db_pool_max=pool[1],
            last_used_flush_seconds=seconds("LAST_USED_FLUSH_SECONDS", d.last_used_flush_seconds, 0.1),
            permissions=tuple(dict.fromkeys(permissions + CORE_PERMISSIONS))
            if permissions
            else DEFAULT_PERMISSIONS,
            api_key_environments=tuple(dict.fromkeys(environments)) or ENVIRONMENTS,
            bootstrap_admin_email=get("BOOTSTRAP_ADMIN_EMAIL"),
            bootstrap_admin_password=get("BOOTSTRAP_ADMIN_PASSWORD"),
            bootstrap_workspace=get("BOOTSTRAP_WORKSPACE") or d.bootstrap_workspace,
            log_level=log_level,
            signing_algorithm=algorithm,
            key_activation_seconds=seconds("KEY_ACTIVATION_SECONDS", d.key_activation_seconds),
            metrics_address=env.get("AUTHSVC_METRICS_ADDRESS", d.metrics_address),
            validation_cache_seconds=seconds("VALIDATION_CACHE_SECONDS", d.validation_cache_seconds),
            validation_cache_entries=number("VALIDATION_CACHE_ENTRIES", d.validation_cache_entries, 1),
            verified_token_cache_entries=number(
                "VERIFIED_TOKEN_CACHE_ENTRIES", d.verified_token_cache_entries
            ),
            login_rate_limit=rate("LOGIN_RATE_LIMIT", d.login_rate_limit),
            refresh_rate_limit=rate("REFRESH_RATE_LIMIT", d.refresh_rate_limit),
            login_account_failure_limit=rate("LOGIN_ACCOUNT_FAILURE_LIMIT", d.login_account_failure_limit),
            login_known_network_seconds=number(
                "LOGIN_KNOWN_NETWORK_SECONDS", d.login_known_network_seconds, 0, 365 * 86400
            ),
            proxy_tokens=proxy_tokens,
            trusted_proxies=trusted,
            ipv6_limit_prefix=number("IPV6_LIMIT_PREFIX", d.ipv6_limit_prefix, 32, 128),
        )
