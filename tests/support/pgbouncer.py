"""A real PgBouncer (Debian's package, which `make test` installs) in transaction pooling mode,
in front of the suite's PostgreSQL, as a child process.

PgBouncer refuses to run as root (CI runs as root): it then runs as the user that owns the
server's socket directory (the embedded server's own), or as Debian's `postgres` user over TCP.
Its directory is its own and removed afterwards.
`server_round_robin` and a small pool make consecutive transactions land on different server
connections, so anything that relies on one session (named prepared statements, session locks,
LISTEN) fails here rather than in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.support.addresses import free_port
from tests.support.children import stop, wait_until_listening

PACKAGE = "pgbouncer"
START_TIMEOUT_SECONDS = 10.0


class PgBouncerUnavailable(RuntimeError):
    """PgBouncer is missing: these tests must fail, not skip."""


def pgbouncer_binary_path() -> str:
    found = shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if os.access("/usr/sbin/pgbouncer", os.X_OK) else None
    )
    if found is None:
        raise PgBouncerUnavailable(f"pgbouncer is not installed: `make test` installs Debian's {PACKAGE}")
    return found


@dataclass
class PgBouncer:
    port: int
    log: Path

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


def _server(url: str) -> tuple[str, int]:
    """The host (or socket directory) and port of a PostgreSQL URL."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or "127.0.0.1"])[0]
    port = int(query.get("port", [parts.port or 5432])[0])
    return host, port


@contextlib.asynccontextmanager
async def running_pgbouncer(binary: str, server_url: str) -> AsyncIterator[PgBouncer]:
    """PgBouncer on a free loopback port, every database name passed through to `server_url`'s
    server, pool_mode=transaction, trust authentication as `postgres`."""
    host, server_port = _server(server_url)
    as_root = os.geteuid() == 0
    with tempfile.TemporaryDirectory(prefix="authsvc-pgbouncer-") as tmp:
        home, port = Path(tmp), free_port()
        (home / "userlist.txt").write_text('"postgres" ""\n')
        (home / "pgbouncer.ini").write_text(
            f"""[databases]
* = host={host} port={server_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {home / "userlist.txt"}
pool_mode = transaction
default_pool_size = 3
server_round_robin = 1
max_client_conn = 500
logfile = {home / "pgbouncer.log"}
pidfile = {home / "pgbouncer.pid"}
"""
        )
        command = [binary, str(home / "pgbouncer.ini")]
        if as_root:
            # The owner of the server's socket directory can reach it (the embedded server runs as
            # its own user, its directory private); over TCP, Debian's `postgres` user.
            owner = os.stat(host).st_uid if host.startswith("/") else pwd.getpwnam("postgres").pw_uid
            user = pwd.getpwuid(owner)
            os.chown(home, user.pw_uid, user.pw_gid)
            for child in home.iterdir():
                os.chown(child, user.pw_uid, user.pw_gid)
            command = ["runuser", "-u", user.pw_name, "--", *command]
        log = home / "pgbouncer.log"
        with (home / "stderr.log").open("wb") as sink:
            process = await asyncio.create_subprocess_exec(
                *command, stdin=asyncio.subprocess.DEVNULL, stdout=sink, stderr=sink
            )
        try:
            await wait_until_listening("pgbouncer", port, process, lambda: _logs(log), START_TIMEOUT_SECONDS)
            yield PgBouncer(port, log)
        finally:
            await stop(process)


def _logs(log: Path) -> str:
    return "\n".join(f.read_text(errors="replace") for f in (log, log.with_name("stderr.log")) if f.exists())
