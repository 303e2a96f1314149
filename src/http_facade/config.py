"""Settings of the REST facade: read once from HTTP_FACADE_* environment variables, then frozen."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from authsvc.domain.networks import Network, parse_networks
from authsvc.env_config import ConfigError, EnvReader


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    authsvc_target: str = "127.0.0.1:50051"
    call_timeout_seconds: float = 5.0
    trusted_proxies: tuple[Network, ...] = ()
    # Presented to AuthService with the client IP: what makes AuthService believe it.
    proxy_token: str | None = field(default=None, repr=False)
    max_body_bytes: int = 64 * 1024
    shutdown_grace_seconds: float = 10.0
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        read = EnvReader("HTTP_FACADE_", env)
        d = cls()  # each default is written once, on the fields above

        def get(name: str, default: str) -> str:
            return read.text(name) or default

        try:
            trusted_proxies = parse_networks(get("TRUSTED_PROXIES", ""))
        except ValueError as error:
            raise ConfigError(f"HTTP_FACADE_TRUSTED_PROXIES: {error}") from None
        log_level = get("LOG_LEVEL", d.log_level).upper()
        if log_level not in logging.getLevelNamesMapping():
            raise ConfigError("HTTP_FACADE_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")
        tokens = read.tokens("PROXY_TOKEN")
        if len(tokens) > 1:
            raise ConfigError("HTTP_FACADE_PROXY_TOKEN is one token (AuthService may accept several)")
        return cls(
            host=get("HOST", d.host),
            port=read.whole("PORT", d.port, 0, 65535),
            authsvc_target=get("AUTHSVC_TARGET", d.authsvc_target),
            call_timeout_seconds=read.number("CALL_TIMEOUT_SECONDS", d.call_timeout_seconds, 0.001, 300),
            trusted_proxies=trusted_proxies,
            proxy_token=tokens[0] if tokens else None,
            max_body_bytes=read.whole("MAX_BODY_BYTES", d.max_body_bytes, 1024, 16 * 1024 * 1024),
            shutdown_grace_seconds=read.number("SHUTDOWN_GRACE_SECONDS", d.shutdown_grace_seconds, 0, 300),
            log_level=log_level,
        )
