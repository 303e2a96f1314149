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
    logs: deque[str] = field(default_factory=lambda: deque(maxlen=KEPT_LINES))  # stderr: JSON logs
    _readers: list[asyncio.Task[None]] = field(default_factory=list)

    def keep_reading(self) -> None:
        """Reads the child's stdout for as long as it runs: a pipe nobody empties fills up (64 KiB)
        and would block the child at its next write."""
        assert self.process.stdout is not None
        self._readers.append(asyncio.create_task(_read_into(self.process.stdout, self.lines)))

    def errors(self) -> list[str]:
        """The log lines at ERROR level or above (with their tracebacks)."""
        return [line for line in self.logs if '"level": "ERROR"' in line or '"level": "CRITICAL"' in line]

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
        for reader in self._readers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reader, 5)
        return code


async def _read_into(stream: asyncio.StreamReader, lines: deque[str]) -> None:
    while raw := await stream.readline():
        lines.append(raw.decode(errors="replace").rstrip())


async def start_serve(env: dict[str, str], timeout: float = 90, *args: str) -> ServeProcess:
    """Starts `authsvc serve` (with `args`) and waits for its "listening" line; the lines before it
    are kept."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "authsvc", "serve", *args,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    lines: deque[str] = deque(maxlen=KEPT_LINES)
    logs: deque[str] = deque(maxlen=KEPT_LINES)
    log_reader = asyncio.create_task(_read_into(process.stderr, logs))  # from the start: logs come first
    try:
        async with asyncio.timeout(timeout):
            while True:
                raw = await process.stdout.readline()
                if not raw:
                    raise RuntimeError(f"authsvc serve exited early: {list(lines)} {list(logs)[-20:]}")
                line = raw.decode().strip()
                lines.append(line)
                found = re.search(r"listening on [\d.]+:(\d+)", line)
                if found:
                    serving = ServeProcess(process, int(found.group(1)), lines, logs, [log_reader])
                    serving.keep_reading()
                    return serving
    except BaseException:
        if process.returncode is None:
            process.kill()
        await process.wait()
        log_reader.cancel()
        raise
