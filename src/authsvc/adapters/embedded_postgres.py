"""The embedded PostgreSQL (the `pgserver` package) and the secret kept beside its data.

Kept behind this one small module: pgserver has had no release since 2024.
"""

from __future__ import annotations

import os
import secrets
import warnings
from pathlib import Path
from typing import Any


def start(data_dir: Path) -> Any:
    """Starts (or joins) the server for `data_dir/pg`; it stops when the last user exits."""
    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime dir at import; the fallback warning is noise.
        warnings.simplefilter("ignore")
        import pgserver
    data_dir.mkdir(parents=True, exist_ok=True)
    return pgserver.get_server(data_dir / "pg", cleanup_mode="stop")  # type: ignore[attr-defined]


def dsn(server: Any) -> str:
    return str(server.get_uri())


def load_or_create_secret(data_dir: Path, name: str = "jwt_secret") -> bytes:
    """A 256-bit secret generated once and kept, mode 0600, with the embedded data."""
    path = data_dir / name
    if path.exists():
        return bytes.fromhex(path.read_text("ascii").strip())
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(value.hex())
    return value
