"""AuthService's settings: AUTHSVC_* environment variables, each default and bound written once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from authsvc.domain.api_key_format import ENVIRONMENTS
from authsvc.domain.mail import SmtpTarget
from authsvc.domain.networks import Network, parse_networks
from authsvc.domain.password_policy import LOWEST_MIN_LENGTH
from authsvc.domain.permissions import CORE_PERMISSIONS, DEFAULT_PERMISSIONS, is_well_formed
from authsvc.domain.plans import UNLIMITED, Plans, PlansFileError, parse_plans
from authsvc.domain.rate_limits import RateLimit
from authsvc.domain.tokens import MAX_ACCESS_TTL, MIN_ACCESS_TTL
from authsvc.env_config import EnvSettings, LogLevel, check_tokens, comma_separated
from authsvc.service.policy import Policy
from authsvc.workers import worker_count

_POLICY = Policy()  # the use cases' numbers: their defaults are the settings' defaults
_YEAR = 365 * 86_400


def _default_data_dir(env: Mapping[str, str] = os.environ) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "authsvc"


def _seconds(default: float, low: float = 0.0, high: float = 86_400.0) -> Any:
    return Field(default, ge=low, le=high, allow_inf_nan=False)


def _whole(default: int, low: int = 0, high: int = 10**9) -> Any:
    return Field(default, ge=low, le=high)


class Settings(EnvSettings):
    model_config = SettingsConfigDict(env_prefix="AUTHSVC_")
    # Set but empty: metrics off; trusted proxies: none (unset: any address).
    BLANK_IS_A_VALUE: ClassVar[frozenset[str]] = frozenset({"metrics_address", "trusted_proxies"})

    database_url: str | None = Field(None, repr=False)  # may hold a password
    # A transaction pooler (PgBouncer pool_mode=transaction, a managed PostgreSQL's pooler) between
    # the replicas and PostgreSQL: no named prepared statements, every statement in a transaction.
    database_pooler: Literal["none", "transaction"] = "none"
    # A connection that reaches PostgreSQL itself, for LISTEN (a pooler cannot carry it).
    direct_database_url: str | None = Field(None, repr=False)
    data_dir: Path = Field(default_factory=lambda: _default_data_dir())
    jwt_secret: bytes | None = Field(None, repr=False)
    jwt_issuer: str = "authsvc"
    jwt_audience: str = "authsvc"
    jwt_leeway_seconds: int = _whole(_POLICY.leeway, 0, 300)
    bcrypt_cost: int = _whole(12, 10, 31)
    access_token_ttl_seconds: int = _whole(_POLICY.access_token_ttl, MIN_ACCESS_TTL, MAX_ACCESS_TTL)
    refresh_token_ttl_seconds: int = _whole(_POLICY.refresh_token_ttl, 60, _YEAR)
    session_max_age_seconds: int = _whole(_POLICY.session_max_age, 60, _YEAR)
    refresh_grace_seconds: int = _whole(int(_POLICY.refresh_grace.total_seconds()), 0, 300)
    grpc_address: str = "127.0.0.1:50051"
    # Processes serving grpc_address together (SO_REUSEPORT); `auto`: one per core. `--workers`.
    workers: int = 1
    shutdown_grace_seconds: float = _seconds(10.0)
    db_pool_min: int = _whole(2, 0, 1000)
    db_pool_max: int = _whole(10, 1, 1000)
    last_used_flush_seconds: float = _seconds(10.0, 0.1)
    permissions: Annotated[tuple[str, ...], NoDecode] = DEFAULT_PERMISSIONS
    api_key_environments: Annotated[tuple[str, ...], NoDecode] = ENVIRONMENTS
    bootstrap_admin_email: str | None = None
    bootstrap_admin_password: str | None = Field(None, repr=False)
    bootstrap_workspace: str = "default"
    log_level: LogLevel = "INFO"
    metrics_address: str = "127.0.0.1:9464"
    signing_algorithm: Literal["HS256", "EdDSA", "ES256", "RS256"] = "EdDSA"
    key_activation_seconds: float = _seconds(5.0)
    validation_cache_seconds: float = _seconds(300.0)
    validation_cache_entries: int = _whole(100_000, 1)
    max_staleness_seconds: float = _seconds(10.0)
    envoy_check_cost: int = _whole(1, 0, 1000)  # requests an Envoy Check charges by default
    verified_token_cache_entries: int = _whole(100_000)
    login_rate_limit: Annotated[RateLimit, NoDecode] = _POLICY.login_per_ip
    refresh_rate_limit: Annotated[RateLimit, NoDecode] = _POLICY.refresh_per_user
    login_account_failure_limit: Annotated[RateLimit, NoDecode] = _POLICY.login_failures_per_account
    password_reset_rate_limit: Annotated[RateLimit, NoDecode] = _POLICY.password_reset_limit
    invitation_rate_limit: Annotated[RateLimit, NoDecode] = _POLICY.invitation_limit
    invitation_ttl_seconds: int = _whole(_POLICY.invitation_lifetime, 300, 30 * 86400)
    audit_retention_days: int = _whole(365, 0, 36500)  # 0: keep audit events forever
    login_known_network_seconds: int = _whole(_POLICY.login_known_network_seconds, 0, _YEAR)
    # Callers presenting one of these tokens may name the client IP (x-forwarded-for)...
    proxy_tokens: Annotated[tuple[str, ...], NoDecode] = Field((), repr=False)
    # ...from these networks only (None: from any address).
    trusted_proxies: Annotated[tuple[Network, ...] | None, NoDecode] = None
    # Subscription plans (TOML, domain.plans); unset: every workspace unlimited.
    plans_file: Path | None = None
    api_key_max_lifetime_seconds: int = _whole(_POLICY.api_key_max_lifetime, 60, 10 * _YEAR)
    ipv6_limit_prefix: int = _whole(_POLICY.ipv6_limit_prefix, 32, 128)
    # Mail (password reset links): the SMTP server (domain.mail.SmtpTarget); unset: no mail.
    smtp_url: str | None = Field(None, repr=False)  # may hold a password
    mail_from: str = "authsvc@localhost"
    # The page a reset link opens, with {token} where the token goes; needed with smtp_url.
    password_reset_url: str | None = None
    # The page an invitation link opens, {token} in it; with smtp_url, invitations go by mail.
    invitation_url: str | None = None
    # The fewest characters a new password may have (NIST SP 800-63B rev. 4: 15 when it is the only factor).
    password_min_length: int = _whole(_POLICY.password_min_length, LOWEST_MIN_LENGTH, 64)

    @property
    def embedded(self) -> bool:
        return self.database_url is None

    @field_validator("workers", mode="before")
    @classmethod
    def _workers(cls, value: Any) -> Any:
        return worker_count(value) if isinstance(value, str | int) else value

    @field_validator("jwt_secret", mode="before")
    @classmethod
    def _hex_secret(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = bytes.fromhex(value)
            except ValueError:
                raise ValueError("must be hex (e.g. `openssl rand -hex 32`)") from None
        if isinstance(value, bytes) and len(value) < 32:
            raise ValueError("must hold at least 256 bits (64 hex digits)")
        return value

    @field_validator("permissions", mode="before")
    @classmethod
    def _known_permissions(cls, value: Any) -> Any:
        """Configured permissions, plus the ones the service itself relies on."""
        listed = comma_separated(value)
        for permission in listed:
            if not is_well_formed(permission):
                raise ValueError(f"{permission!r} is not resource:action")
        return tuple(dict.fromkeys(tuple(listed) + CORE_PERMISSIONS)) if listed else DEFAULT_PERMISSIONS

    @field_validator("api_key_environments", mode="before")
    @classmethod
    def _environments(cls, value: Any) -> Any:
        listed = tuple(dict.fromkeys(comma_separated(value)))
        if not set(listed) <= set(ENVIRONMENTS):
            raise ValueError("lists live, test or both (e.g. live)")
        return listed or ENVIRONMENTS

    @field_validator(
        "login_rate_limit",
        "refresh_rate_limit",
        "login_account_failure_limit",
        "password_reset_rate_limit",
        "invitation_rate_limit",
        mode="before",
    )
    @classmethod
    def _rate(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return RateLimit.parse(value)
        except ValueError:
            example = cls.model_fields[str(info.field_name)].default.spec()
            raise ValueError(f"must look like COUNT/SECONDS, e.g. {example}") from None

    @field_validator("plans_file")
    @classmethod
    def _plans(cls, value: Path | None) -> Path | None:
        if value is not None:
            read_plans(value)  # refuses to start on a file that does not describe plans
        return value

    @field_validator("proxy_tokens", mode="before")
    @classmethod
    def _proxy_tokens(cls, value: Any) -> Any:
        return check_tokens(comma_separated(value))

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        return parse_networks(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.database_url is not None and self.jwt_secret is None:
            raise ValueError(
                "AUTHSVC_JWT_SECRET is required when AUTHSVC_DATABASE_URL is set: replicas must "
                "share one signing secret"
            )
        if self.db_pool_min > self.db_pool_max:
            raise ValueError("AUTHSVC_DB_POOL_MIN must not exceed AUTHSVC_DB_POOL_MAX")
        if self.direct_database_url is not None and self.database_url is None:
            raise ValueError("AUTHSVC_DIRECT_DATABASE_URL needs AUTHSVC_DATABASE_URL")
        if self.smtp_url is not None and self.password_reset_url is None:
            raise ValueError(
                "AUTHSVC_PASSWORD_RESET_URL is required with AUTHSVC_SMTP_URL: the page reset links open"
            )
        return self

    @property
    def smtp(self) -> SmtpTarget | None:
        return SmtpTarget.parse(self.smtp_url) if self.smtp_url is not None else None

    @field_validator("smtp_url")
    @classmethod
    def _smtp(cls, value: str | None) -> str | None:
        if value is not None:
            SmtpTarget.parse(value)  # its ValueError never holds the URL
        return value

    @field_validator("password_reset_url", "invitation_url")
    @classmethod
    def _reset_link(cls, value: str | None) -> str | None:
        if value is not None and not (value.startswith(("https://", "http://")) and "{token}" in value):
            raise ValueError("must be an http(s) URL with {token} where the token goes")
        return value


def read_plans(path: Path | None) -> Plans:
    """The plans of AUTHSVC_PLANS_FILE (ValueError naming the line at fault); unlimited without one."""
    if path is None:
        return UNLIMITED
    try:
        return parse_plans(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror}") from None
    except PlansFileError as error:
        raise ValueError(f"{path}: {error}") from None
