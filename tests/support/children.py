"""Child processes the tests start as real peers (nginx, Caddy, PgBouncer): waiting until one
listens, and stopping it whatever happened."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

STOP_TIMEOUT_SECONDS = 10.0


async def wait_until_listening(
    name: str, port: int, process: asyncio.subprocess.Process, log: Callable[[], str], within: float
) -> None:
    """Returns once 127.0.0.1:`port` accepts connections; raises with `log()` if the process
    exits first, or after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        if process.returncode is not None:
            raise RuntimeError(f"{name} exited with status {process.returncode}:\n{log()}")
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await writer.wait_closed()
            return
        if loop.time() > deadline:
            raise RuntimeError(f"{name} did not listen on 127.0.0.1:{port} within {within:g} s")
        await asyncio.sleep(0.05)


async def stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL if it lingers; always waited for."""
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            process.kill()
    await process.wait()
