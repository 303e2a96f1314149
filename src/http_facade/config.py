"""Settings of the REST facade: HTTP_FACADE_* environment variables, each default and bound
written once, read at start and then frozen."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from authsvc.domain.networks import Network, parse_networks
from authsvc.env_config import EnvSettings, LogLevel, check_tokens, comma_separated
from authsvc.workers import worker_count


class Settings(EnvSettings):
    model_config = SettingsConfigDict(env_prefix="HTTP_FACADE_")
    BLANK_IS_A_VALUE: ClassVar[frozenset[str]] = frozenset()

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    # Processes serving the port together (SO_REUSEPORT); `auto`: one per core. `--workers`.
    workers: int = 1
    authsvc_target: str = "127.0.0.1:50051"
    call_timeout_seconds: float = Field(5.0, ge=0.001, le=300, allow_inf_nan=False)
    # Only requests from these networks may name the client IP (X-Forwarded-For).
    trusted_proxies: Annotated[tuple[Network, ...], NoDecode] = ()
    # Presented to AuthService with the client IP: what makes AuthService believe it.
    proxy_token: str | None = Field(None, repr=False)
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024)
    shutdown_grace_seconds: float = Field(10.0, ge=0, le=300, allow_inf_nan=False)
    log_level: LogLevel = "INFO"
    # An API key holding tokens:verify: /me and /verify are then answered from the revocation
    # stream, with no AuthService call per request (see docs/sdk.md, local verification).
    local_verification_key: str | None = Field(None, repr=False)
    max_staleness_seconds: float = Field(10.0, gt=0, le=3600, allow_inf_nan=False)

    @field_validator("workers", mode="before")
    @classmethod
    def _workers(cls, value: Any) -> Any:
        return worker_count(value) if isinstance(value, str | int) else value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        return parse_networks(value) if isinstance(value, str) else value

    @field_validator("proxy_token", mode="before")
    @classmethod
    def _one_token(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        tokens = check_tokens(comma_separated(value))
        if len(tokens) != 1:
            raise ValueError("must be one token (AuthService may accept several)")
        return tokens[0]
