"""A real Caddy (Debian's package, which `make test` installs) on loopback, as a child process,
running the Caddyfile docs/caddy.md documents with the test's addresses put in.

Each instance keeps its data and config under a temporary home, runs without its admin endpoint,
and is stopped (SIGTERM, then SIGKILL) and waited for whatever happens in `running_caddy`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.addresses import free_port
from tests.support.children import stop, wait_until_listening

PACKAGE = "caddy"
DOC = Path(__file__).parents[2] / "docs" / "caddy.md"
START_TIMEOUT_SECONDS = 15.0


class CaddyUnavailable(RuntimeError):
    """Caddy is missing: the gateway tests must fail, not skip."""


def caddy_binary_path() -> str:
    found = shutil.which("caddy")
    if found is None:
        raise CaddyUnavailable(f"caddy is not installed: `make test` installs Debian's {PACKAGE}")
    return found


def documented_caddyfile(facade: str, app: str, port: int) -> str:
    """docs/caddy.md's Caddyfile with the facade (`host:port`), the app and the listening port
    put in place of the documented ones."""
    block = re.search(r"```caddyfile\n(.*?)```", DOC.read_text(), re.S)
    assert block is not None, "docs/caddy.md has no Caddyfile"
    text = block.group(1)
    for documented, actual in (
        ("authsvc-facade:8080", facade),
        ("app:8000", app),
        ("http://:8443", f"http://127.0.0.1:{port}"),
    ):
        assert documented in text, documented
        text = text.replace(documented, actual)
    return text


@dataclass
class Caddy:
    url: str
    process: asyncio.subprocess.Process
    log: Path


@contextlib.asynccontextmanager
async def running_caddy(binary: str, facade: str, app: str) -> AsyncIterator[Caddy]:
    with tempfile.TemporaryDirectory(prefix="authsvc-caddy-") as tmp:
        home, port = Path(tmp), free_port()
        (home / "Caddyfile").write_text(documented_caddyfile(facade, app, port))
        env = {**os.environ, "HOME": tmp, "XDG_DATA_HOME": tmp, "XDG_CONFIG_HOME": tmp}
        log = home / "caddy.log"
        with log.open("wb") as sink:
            process = await asyncio.create_subprocess_exec(
                binary, "run", "--config", str(home / "Caddyfile"), "--adapter", "caddyfile",
                env=env, stdin=asyncio.subprocess.DEVNULL, stdout=sink, stderr=sink,
            )  # fmt: skip
        try:
            await wait_until_listening("caddy", port, process, log.read_text, START_TIMEOUT_SECONDS)
            yield Caddy(f"http://127.0.0.1:{port}", process, log)
        finally:
            await stop(process)
