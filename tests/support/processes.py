"""Running the real `authsvc` command as a child process, with a clean AUTHSVC_* environment."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections import deque
from dataclasses import dataclass, field

KEPT_LINES = 5_000  # the latest output lines kept for a test to read


def clean_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSVC_")}
    env["AUTHSVC_METRICS_ADDRESS"] = "127.0.0.1:0"  # several servers may run at once
    env.update(settings)
    return env


@dataclass
class ServeProcess:
    process: asyncio.subprocess.Process
    port: int
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=KEPT_LINES))
    _reader: asyncio.Task[None] | None = None

    def keep_reading(self) -> None:
        """Reads the child's output for as long as it runs: a pipe nobody empties fills up (64 KiB)
        and would block the child at its next log line."""
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while raw := await self.process.stdout.readline():
            self.lines.append(raw.decode(errors="replace").rstrip())

    @property
    def metrics_url(self) -> str:
        for line in self.lines:
            found = re.search(r"metrics on (http://\S+)", line)
            if found:
                return found.group(1)
        raise LookupError("no metrics line")

    async def stop(self, timeout: float = 30) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), timeout)
        if self._reader is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reader, 5)
        return code


async def start_serve(env: dict[str, str], timeout: float = 90) -> ServeProcess:
    """Starts `authsvc serve` and waits for its "listening" line; the lines before it are kept."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "authsvc", "serve",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdout is not None
    lines: deque[str] = deque(maxlen=KEPT_LINES)
    async with asyncio.timeout(timeout):
        while True:
            raw = await process.stdout.readline()
            if not raw:
                raise RuntimeError(f"authsvc serve exited early: {list(lines)}")
            line = raw.decode().strip()
            lines.append(line)
            found = re.search(r"listening on [\d.]+:(\d+)", line)
            if found:
                serving = ServeProcess(process, int(found.group(1)), lines)
                serving.keep_reading()
                return serving
