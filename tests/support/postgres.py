"""Which PostgreSQL the tests use: AUTHSVC_TEST_DATABASE_URL when set, else an embedded one."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from authsvc.adapters import embedded_postgres

ENV_VAR = "AUTHSVC_TEST_DATABASE_URL"


@contextmanager
def suite_database_url() -> Iterator[str]:
    configured = os.environ.get(ENV_VAR)
    if configured:
        yield configured
        return
    # A short path: PostgreSQL's unix socket path must stay under ~100 characters.
    with tempfile.TemporaryDirectory(prefix="authsvc-pg-") as folder:
        server = embedded_postgres.start(Path(folder))
        try:
            yield embedded_postgres.dsn(server)
        finally:
            server.cleanup()


def with_database(url: str, name: str) -> str:
    """The same server and credentials, another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))
