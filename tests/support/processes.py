"""Running the real `authsvc` command as a child process, with a clean AUTHSVC_* environment."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from dataclasses import dataclass, field


def clean_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSVC_")}
    env["AUTHSVC_METRICS_ADDRESS"] = "127.0.0.1:0"  # several servers may run at once
    env.update(settings)
    return env


@dataclass
class ServeProcess:
    process: asyncio.subprocess.Process
    port: int
    lines: list[str] = field(default_factory=list)

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
        return await asyncio.wait_for(self.process.wait(), timeout)


async def start_serve(env: dict[str, str], timeout: float = 90) -> ServeProcess:
    """Starts `authsvc serve` and waits for its "listening" line; the lines before it are kept."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "authsvc", "serve",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    async with asyncio.timeout(timeout):
        while True:
            raw = await process.stdout.readline()
            if not raw:
                raise RuntimeError(f"authsvc serve exited early: {lines}")
            line = raw.decode().strip()
            lines.append(line)
            found = re.search(r"listening on [\d.]+:(\d+)", line)
            if found:
                return ServeProcess(process, int(found.group(1)), lines)
