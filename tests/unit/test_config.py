"""Settings from the environment: defaults, and refusals at start."""

from __future__ import annotations

import pytest

from authsvc.config import Settings
from authsvc.env_config import ConfigError

SECRET = "ab" * 32


def test_defaults_describe_the_embedded_service() -> None:
    settings = Settings.from_env({"HOME": "/home/someone"})
    assert settings.embedded and settings.jwt_secret is None
    assert settings.grpc_address == "127.0.0.1:50051"
    assert settings.bcrypt_cost == 12 and settings.access_token_ttl_seconds == 86400
    assert str(settings.data_dir).endswith("authsvc")


def test_a_configured_database_requires_a_shared_secret() -> None:
    with pytest.raises(ConfigError, match="AUTHSVC_JWT_SECRET"):
        Settings.from_env({"AUTHSVC_DATABASE_URL": "postgresql://db/auth"})
    settings = Settings.from_env(
        {"AUTHSVC_DATABASE_URL": "postgresql://db/auth", "AUTHSVC_JWT_SECRET": SECRET}
    )
    assert settings.jwt_secret == bytes.fromhex(SECRET) and not settings.embedded


@pytest.mark.parametrize(
    "env",
    [
        {"AUTHSVC_JWT_SECRET": "ab" * 16},
        {"AUTHSVC_JWT_SECRET": "not hex"},
        {"AUTHSVC_BCRYPT_COST": "9"},
        {"AUTHSVC_BCRYPT_COST": "twelve"},
        {"AUTHSVC_PERMISSIONS": "geofences:read,Bad Permission"},
        {"AUTHSVC_ACCESS_TOKEN_TTL_SECONDS": "0"},
        {"AUTHSVC_JWT_LEEWAY_SECONDS": "3601"},
        {"AUTHSVC_DB_POOL_MIN": "20", "AUTHSVC_DB_POOL_MAX": "5"},
        {"AUTHSVC_LOG_LEVEL": "VERBOSE"},
        {"AUTHSVC_SIGNING_ALGORITHM": "none"},
        {"AUTHSVC_TRUSTED_PROXIES": "10.0.0.1/8"},  # host bits set: a typo, not a network
        {"AUTHSVC_TRUSTED_PROXIES": "everyone"},
        {"AUTHSVC_PROXY_TOKENS": "short"},
        {"AUTHSVC_PROXY_TOKENS": "a" * 40 + ",with space " + "b" * 40},
        {"AUTHSVC_IPV6_LIMIT_PREFIX": "16"},
        {"AUTHSVC_DATABASE_POOLER": "session"},  # only a transaction pooler needs anything
        {"AUTHSVC_DIRECT_DATABASE_URL": "postgresql://db/x"},  # a direct URL without a database URL
        {"AUTHSVC_SMTP_URL": "smtp://mail.example.com"},  # mail, but no page for the links
        {
            "AUTHSVC_SMTP_URL": "http://mail.example.com",
            "AUTHSVC_PASSWORD_RESET_URL": "https://a/r?t={token}",
        },
        {"AUTHSVC_SMTP_URL": "smtps://:587", "AUTHSVC_PASSWORD_RESET_URL": "https://a/r?t={token}"},
        {"AUTHSVC_PASSWORD_RESET_URL": "https://app.example.com/reset"},  # nowhere for the token
        {"AUTHSVC_PASSWORD_MIN_LENGTH": "6"},  # below the least NIST allows
        # A login over opportunistic STARTTLS, which can be stripped on the way: refused.
        {
            "AUTHSVC_SMTP_URL": "smtp://u:p@mail.example.com",
            "AUTHSVC_PASSWORD_RESET_URL": "https://a/r?t={token}",
        },
        {"AUTHSVC_PASSWORD_RESET_RATE_LIMIT": "ten a minute"},
    ],
)
def test_unsafe_or_malformed_values_refuse_to_start(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="AUTHSVC_"):
        Settings.from_env(env)


def test_configured_permissions_keep_the_ones_the_service_relies_on() -> None:
    settings = Settings.from_env({"AUTHSVC_PERMISSIONS": "reports:read, reports:write"})
    assert {"reports:read", "reports:write", "api_keys:read", "api_keys:write", "workspace:admin"} <= set(
        settings.permissions
    )


def test_secrets_stay_out_of_the_settings_repr() -> None:
    env = {
        "AUTHSVC_DATABASE_URL": "postgresql://app:hunter2@db/auth",
        "AUTHSVC_JWT_SECRET": SECRET,
        "AUTHSVC_BOOTSTRAP_ADMIN_PASSWORD": "first admin password",
        "AUTHSVC_PROXY_TOKENS": "proxy-token-" + "p" * 32,
        "AUTHSVC_SMTP_URL": "smtp+starttls://mailer:smtp-secret@mail.example.com",
        "AUTHSVC_PASSWORD_RESET_URL": "https://app.example.com/reset#token={token}",
    }
    settings = Settings.from_env(env)
    shown = repr(settings)
    assert "hunter2" not in shown and SECRET not in shown and "first admin password" not in shown
    assert "proxy-token-" not in shown and "smtp-secret" not in shown
    assert settings.smtp is not None and (settings.smtp.port, settings.smtp.starttls) == (587, True)
    assert "smtp-secret" not in repr(settings.smtp)
    encoded = Settings.from_env(
        {**env, "AUTHSVC_SMTP_URL": "smtps://mail%40example.com:p%40ss%3Aw@mail.example.com"}
    )
    assert encoded.smtp is not None and (encoded.smtp.username, encoded.smtp.password) == (
        "mail@example.com",
        "p@ss:w",
    )
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({**env, "AUTHSVC_SMTP_URL": "smtps://mailer:smtp-secret@mail.example.com:99999"})
    assert "smtp-secret" not in str(refused.value)


def test_by_default_no_caller_may_name_the_client_ip() -> None:
    settings = Settings.from_env({})
    assert settings.proxy_tokens == () and settings.trusted_proxies is None
    assert settings.ipv6_limit_prefix == 64
    configured = Settings.from_env(
        {"AUTHSVC_PROXY_TOKENS": "a" * 32 + ", " + "b" * 40, "AUTHSVC_TRUSTED_PROXIES": ""}
    )
    assert configured.proxy_tokens == ("a" * 32, "b" * 40)
    assert configured.trusted_proxies == ()  # set but empty: no network may
