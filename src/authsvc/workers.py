"""Several copies of one server process on one port (SO_REUSEPORT): `authsvc serve --workers N`
and `http-facade serve --workers N`. A supervisor starts them, restarts one that dies, and stops
them together; it serves nothing itself.

Each worker is a whole process of its own (own event loop, database pool, revocation index and
listener), started fresh with `sys.executable -m ...` rather than forked: gRPC's threads do not
survive a fork. The kernel spreads new connections over the workers' listening sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import socket
import sys
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

MAX_WORKERS = 256
START_TIMEOUT = 120.0  # a worker that has not said it listens by then is taken for failed
RESTART_DELAY = 1.0  # before restarting a worker that died, doubling while it fails to start
MAX_RESTART_DELAY = 30.0


def worker_count(value: str | int) -> int:
    """`auto`: the cores this process may run on; else a whole number from 1 to MAX_WORKERS."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return max(1, min(MAX_WORKERS, len(os.sched_getaffinity(0))))
    try:
        count = int(value)
    except ValueError:
        raise ValueError(f"must be a whole number from 1 to {MAX_WORKERS}, or auto") from None
    if not 1 <= count <= MAX_WORKERS:
        raise ValueError(f"must be a whole number from 1 to {MAX_WORKERS}, or auto")
    return count


@contextlib.contextmanager
def reserved_port(address: str) -> Iterator[tuple[str, int]]:
    """Binds (never listens on) `host:port` with SO_REUSEPORT for as long as the workers run: port
    0 becomes a fixed port they all bind, and no process of another user can take it meanwhile
    (the kernel shares a port only among sockets of one user that all ask for it)."""
    host, _, port_text = address.rpartition(":")
    host = host.strip("[]")  # empty: every interface, as the servers read it
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, int(port_text)))
        yield host, sock.getsockname()[1]
    finally:
        sock.close()


def host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass
class Worker:
    number: int
    process: asyncio.subprocess.Process
    metrics_url: str | None = None
    output: deque[str] = field(default_factory=lambda: deque(maxlen=50))  # for a failure's report


class WorkerFailed(RuntimeError):
    """A worker exited before it listened: the configuration or the machine is at fault."""


class Supervisor:
    """Runs `count` copies of `command` with `env`. A worker is ready when it prints a line that
    matches `ready`; a line matching `metrics` gives the URL of its own Prometheus metrics."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        env: Mapping[str, str],
        count: int,
        ready: str,
        metrics: str,
        grace: float,
    ) -> None:
        self._name = name
        self._command = list(command)
        self._env = dict(env)
        self._count = count
        self._ready = re.compile(ready)
        self._metrics = re.compile(metrics)
        self._grace = grace
        self._workers: dict[int, Worker] = {}
        self._watchers: set[asyncio.Task[None]] = set()
        self._stopping = False

    def metrics_urls(self) -> list[str]:
        """The workers' own metrics, for summing (read from the metrics server's thread)."""
        return [w.metrics_url for w in list(self._workers.values()) if w.metrics_url is not None]

    def pids(self) -> list[int]:
        return [worker.process.pid for worker in self._workers.values()]

    async def start(self) -> None:
        """Starts every worker and returns once all listen; WorkerFailed if one exits first."""
        started = await asyncio.gather(
            *(self._start(number) for number in range(1, self._count + 1)), return_exceptions=True
        )
        failures = [outcome for outcome in started if isinstance(outcome, BaseException)]
        if failures:
            raise failures[0]

    async def _start(self, number: int) -> None:
        process = await asyncio.create_subprocess_exec(
            *self._command, env=self._env, stdout=asyncio.subprocess.PIPE, stderr=None
        )  # stderr (the JSON logs) goes straight to ours
        worker = Worker(number, process)
        self._workers[number] = worker
        assert process.stdout is not None
        try:
            async with asyncio.timeout(START_TIMEOUT):
                while True:
                    raw = await process.stdout.readline()
                    if not raw:
                        await process.wait()
                        said = " | ".join(worker.output) or "nothing"
                        raise WorkerFailed(
                            f"{self._name} worker {number} exited ({process.returncode}) before "
                            f"listening; it said: {said}"
                        )
                    line = raw.decode(errors="replace").rstrip()
                    worker.output.append(line)
                    found = self._metrics.search(line)
                    if found:
                        worker.metrics_url = found.group(1)
                    if self._ready.search(line):
                        break
        except TimeoutError:
            process.kill()
            late = f"{self._name} worker {number} did not listen within {START_TIMEOUT:g} s"
            raise WorkerFailed(late) from None
        own = f"; its own metrics at {worker.metrics_url}" if worker.metrics_url else ""
        print(f"{self._name} worker {number} (pid {process.pid}) ready{own}", flush=True)
        watcher = asyncio.create_task(self._watch(worker))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)

    async def _watch(self, worker: Worker) -> None:
        """Echoes what the worker prints; restarts it if it dies while not being stopped."""
        assert worker.process.stdout is not None
        while raw := await worker.process.stdout.readline():
            print(raw.decode(errors="replace").rstrip(), flush=True)
        code: int | None = await worker.process.wait()
        delay = RESTART_DELAY
        while not self._stopping:
            log.error("%s worker %d (pid %d) exited with %s; restarting it in %g s",
                      self._name, worker.number, worker.process.pid, code, delay)  # fmt: skip
            await asyncio.sleep(delay)
            try:
                await self._start(worker.number)  # its own watcher takes over from here
                return
            except WorkerFailed as error:  # the others go on serving meanwhile
                log.error("%s", error)
                worker = self._workers[worker.number]
                code, delay = worker.process.returncode, min(delay * 2, MAX_RESTART_DELAY)

    async def stop(self) -> int:
        """SIGTERM to every worker, each draining for the grace; SIGKILL to any still there after.
        Returns 0 when every worker stopped cleanly."""
        self._stopping = True
        for watcher in list(self._watchers):  # no restart from here on
            watcher.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)
        workers = list(self._workers.values())
        for worker in workers:
            if worker.process.returncode is None:
                worker.process.send_signal(signal.SIGTERM)
        codes = await asyncio.gather(*(self._reap(worker) for worker in workers))
        return 0 if all(code == 0 for code in codes) else 1

    async def _reap(self, worker: Worker) -> int:
        try:
            return await asyncio.wait_for(worker.process.wait(), self._grace + 10)
        except TimeoutError:
            log.error("%s worker %d did not stop in time; killing it", self._name, worker.number)
            worker.process.kill()
            return await worker.process.wait()


async def until_signalled() -> None:
    """Returns at the first SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


def child_command(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
