"""Settings from PREFIX_* environment variables: the one reader AuthService and the facade share.

A blank variable counts as unset. A value that is malformed or out of range stops the process
at start with a ConfigError naming the variable, never with a default quietly used instead.
"""

from __future__ import annotations

from collections.abc import Mapping


class ConfigError(Exception):
    """The environment does not describe a process that can start."""


class EnvReader:
    def __init__(self, prefix: str, env: Mapping[str, str]) -> None:
        self._prefix = prefix
        self._env = env

    def name(self, name: str) -> str:
        return self._prefix + name

    def text(self, name: str) -> str | None:
        return self._env.get(self.name(name)) or None

    def whole(self, name: str, default: int, low: int = 0, high: int = 10**9) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{self.name(name)} must be a whole number") from None
        if not low <= value <= high:
            raise ConfigError(f"{self.name(name)} must be between {low} and {high}")
        return value

    def number(self, name: str, default: float, low: float, high: float, what: str = "a number") -> float:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{self.name(name)} must be {what}") from None
        if not low <= value <= high:  # also refuses nan
            raise ConfigError(f"{self.name(name)} must be between {low:g} and {high:g}")
        return value

    def tokens(self, name: str, min_chars: int = 32) -> tuple[str, ...]:
        """Comma-separated secret tokens, each at least `min_chars` printable ASCII characters
        without spaces (what gRPC metadata can carry); several let one replace another."""
        tokens = tuple(token.strip() for token in (self.text(name) or "").split(",") if token.strip())
        for token in tokens:
            if len(token) < min_chars or not all(" " < c <= "~" for c in token):
                raise ConfigError(
                    f"{self.name(name)}: each token must be at least {min_chars} printable ASCII "
                    "characters without spaces (e.g. `openssl rand -hex 32`)"
                )
        return tokens
