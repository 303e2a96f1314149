"""Settings from PREFIX_* environment variables, on pydantic-settings: what AuthService and the
facade share.

Each setting is a field of a frozen settings model, its default and bounds written there once.
`Settings(...)` reads nothing: only `from_environment` reads the environment (the process's, or a
mapping a test hands over). A blank variable counts as unset, except where a field says that
"set but empty" means something. A value that is malformed or out of range stops the process at
start with a ConfigError naming the variable, never with a default quietly used instead, and
never quoting the value (it may be a secret).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Self

from pydantic import BeforeValidator, ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)
from pydantic_settings.sources.utils import parse_env_vars


class ConfigError(Exception):
    """The environment does not describe a process that can start."""


class _Environment(EnvSettingsSource):
    """pydantic-settings' own environment source, over a given mapping instead of os.environ
    (the hook its .env-file source overrides too)."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        self._given = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        given = self._given
        return parse_env_vars(given, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


class EnvSettings(BaseSettings):
    """Frozen settings read from `env_prefix` + FIELD_NAME variables by `from_env`."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)
    # Fields whose empty value means something of its own ("set but empty"), not "unset".
    BLANK_IS_A_VALUE: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)  # constructing settings reads no environment by itself

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        """The settings the environment (os.environ unless given) describes; ConfigError otherwise."""
        try:
            found = _Environment(cls, os.environ if env is None else env)()
        except SettingsError as error:  # a value it could not even decode: name it, not the value
            raise ConfigError(str(error).split(" from source ")[0]) from None
        values = {name: v for name, v in found.items() if v != "" or name in cls.BLANK_IS_A_VALUE}
        try:
            return cls(**values)
        except ValidationError as error:
            raise ConfigError(_explain(cls, error)) from None

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Each field's environment variable, by field name."""
        prefix = cls.model_config.get("env_prefix", "")
        return {name: prefix + name.upper() for name in cls.model_fields}


def _explain(cls: type[BaseSettings], error: ValidationError) -> str:
    """The first problem, named by its variable; pydantic's own text otherwise, without the value."""
    problem = error.errors(include_input=False, include_url=False)[0]
    text = problem["msg"]
    if problem["type"] == "value_error":  # our validators' ValueError: its words, not pydantic's
        text = str(problem["ctx"]["error"])
    if not problem["loc"]:  # a rule between fields: its text names the variables itself
        return text
    name = f"{cls.model_config.get('env_prefix', '')}{str(problem['loc'][0]).upper()}"
    return f"{name}: {text[0].lower()}{text[1:]}"


def comma_separated(value: Any) -> Any:
    """A variable's "a, b,c" as a tuple of its non-blank items; other values as they are."""
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


def check_tokens(tokens: tuple[str, ...], min_chars: int = 32) -> tuple[str, ...]:
    """Secret tokens, each at least `min_chars` printable ASCII characters without spaces (what
    gRPC metadata can carry); several let one replace another."""
    for token in tokens:
        if len(token) < min_chars or not all(" " < c <= "~" for c in token):
            raise ValueError(
                f"each token must be at least {min_chars} printable ASCII characters without spaces "
                "(e.g. `openssl rand -hex 32`)"
            )
    return tokens


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _log_level(value: Any) -> Any:
    if isinstance(value, str) and value.upper() not in logging.getLevelNamesMapping():
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return value.upper() if isinstance(value, str) else value


LogLevel = Annotated[str, BeforeValidator(_log_level)]  # a logging level's name, in any case
