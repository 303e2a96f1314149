"""Facade settings from HTTP_FACADE_* variables: defaults, values, and refusals at start."""

from __future__ import annotations

import ipaddress

import pytest

from authsvc.env_config import ConfigError
from http_facade.config import Settings


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.authsvc_target == "127.0.0.1:50051"
    assert settings.call_timeout_seconds == 5.0
    assert settings.trusted_proxies == () and settings.proxy_token is None
    assert settings.max_body_bytes == 65536
    assert settings == Settings()


def test_values_are_read() -> None:
    settings = Settings.from_env(
        {
            "HTTP_FACADE_HOST": "0.0.0.0",
            "HTTP_FACADE_PORT": "9000",
            "HTTP_FACADE_AUTHSVC_TARGET": "authsvc:50051",
            "HTTP_FACADE_CALL_TIMEOUT_SECONDS": "1.5",
            "HTTP_FACADE_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1, 2001:db8::/32",
            "HTTP_FACADE_MAX_BODY_BYTES": "4096",
            "HTTP_FACADE_SHUTDOWN_GRACE_SECONDS": "3",
            "HTTP_FACADE_LOG_LEVEL": "debug",
        }
    )
    assert (settings.host, settings.port, settings.authsvc_target) == ("0.0.0.0", 9000, "authsvc:50051")
    assert settings.call_timeout_seconds == 1.5 and settings.max_body_bytes == 4096
    assert settings.trusted_proxies == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.0.2.1/32"),
        ipaddress.ip_network("2001:db8::/32"),
    )
    assert settings.shutdown_grace_seconds == 3 and settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    "env",
    [
        {"HTTP_FACADE_PORT": "http"},
        {"HTTP_FACADE_PORT": "70000"},
        {"HTTP_FACADE_PORT": "80.5"},
        {"HTTP_FACADE_CALL_TIMEOUT_SECONDS": "0"},
        {"HTTP_FACADE_CALL_TIMEOUT_SECONDS": "nan"},
        {"HTTP_FACADE_TRUSTED_PROXIES": "10.0.0.1/8"},  # host bits set: a typo, not a network
        {"HTTP_FACADE_TRUSTED_PROXIES": "everyone"},
        {"HTTP_FACADE_PROXY_TOKEN": "too short"},
        {"HTTP_FACADE_PROXY_TOKEN": "a" * 40 + "," + "b" * 40},
        {"HTTP_FACADE_MAX_BODY_BYTES": "10"},
        {"HTTP_FACADE_LOG_LEVEL": "chatty"},
    ],
)
def test_malformed_values_refuse_to_start(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="HTTP_FACADE_"):
        Settings.from_env(env)
