"""Server processes (AuthService, the facade, the floors): start, wait for the port, stop."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import procstats

LISTENING = re.compile(r"listening on (?:https?://)?[\d.]+:(\d+)")


class ServerFailed(RuntimeError):
    """A server exited, or printed no `listening on HOST:PORT` line in time."""


@dataclass
class Server:
    name: str
    process: asyncio.subprocess.Process
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def event_loop(self) -> str:
        return procstats.event_loop_of(self.pid)


def console_script(name: str) -> list[str]:
    """`name` from this venv's bin (as installed by `make install`), else `python -m`."""
    script = Path(sys.executable).parent / name
    return [str(script)] if script.exists() else [sys.executable, "-m", name.replace("-", "_")]


def _read(log: Path) -> str:
    return log.read_text(errors="replace")


async def _wait_for_port(name: str, process: asyncio.subprocess.Process, log: Path) -> int:
    while True:
        found = LISTENING.search(_read(log))
        if found:
            return int(found.group(1))
        if process.returncode is not None:
            tail = _read(log).strip().splitlines()[-5:]
            raise ServerFailed(f"{name} exited with {process.returncode}: {' | '.join(tail)}")
        await asyncio.sleep(0.05)


async def _stop(process: asyncio.subprocess.Process, grace: float = 15.0) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            process.kill()
            await process.wait()


@contextlib.asynccontextmanager
async def running(
    name: str, argv: Sequence[str], env: Mapping[str, str], logs: Path, start_within: float = 120.0
) -> AsyncIterator[Server]:
    """Runs `argv` with its output in `logs/<name>.log` until the block ends (SIGTERM, then SIGKILL)."""
    log = logs / f"{name}.log"
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            *argv, env=dict(env), stdin=asyncio.subprocess.DEVNULL, stdout=sink, stderr=sink
        )
    try:
        try:
            port = await asyncio.wait_for(_wait_for_port(name, process, log), start_within)
        except TimeoutError:
            raise ServerFailed(f"{name} printed no 'listening on' line within {start_within:g} s") from None
        yield Server(name, process, port, log)
    finally:
        await _stop(process)
