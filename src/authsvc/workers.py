"""Several copies of one server process on one port (SO_REUSEPORT): `authsvc serve --workers N`
and `http-facade serve --workers N`. A supervisor starts them, restarts one that dies, and stops
them together; it serves nothing itself.

Each worker is a whole process of its own (own event loop, database pool, revocation index and
listener), started fresh with `sys.executable -m ...` rather than forked: gRPC's threads do not
survive a fork. The kernel spreads new connections over the workers' listening sockets. A worker
dies with its supervisor, however the supervisor ends (`die_with_parent`): an orphan would keep
the port and answer with an old configuration beside the next supervisor's workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import math
import os
import re
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Awaitable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

MAX_WORKERS = 256
START_TIMEOUT = 120.0  # a worker that has not said it listens by then is taken for failed
RESTART_DELAY = 1.0  # before restarting a worker that died, doubling while it keeps dying young
MAX_RESTART_DELAY = 30.0
SETTLED_AFTER = 60.0  # a worker that ran this long died of something new: restart it promptly
SUPERVISOR_PID = "AUTHSVC_SUPERVISOR_PID"  # set in each worker's environment
_PR_SET_PDEATHSIG = 1


def worker_count(value: str | int) -> int:
    """`auto`: the cores this process may use (its CPU affinity, and its cgroup's CPU quota when
    it has one: a container limited to 2 CPUs on a 64-core host gets 2); else 1 to MAX_WORKERS."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return max(1, min(MAX_WORKERS, len(os.sched_getaffinity(0)), _cgroup_cpus() or MAX_WORKERS))
    try:
        count = int(value)
    except ValueError:
        raise ValueError(f"must be a whole number from 1 to {MAX_WORKERS}, or auto") from None
    if not 1 <= count <= MAX_WORKERS:
        raise ValueError(f"must be a whole number from 1 to {MAX_WORKERS}, or auto")
    return count


def _cgroup_cpus(path: Path = Path("/sys/fs/cgroup/cpu.max")) -> int | None:
    """cgroup v2's CPU quota, rounded up to whole CPUs; None without one."""
    try:
        quota, period = path.read_text().split()[:2]
        return None if quota == "max" else max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        return None


def split_address(address: str) -> tuple[str, int]:
    """ "host:port" (IPv6 in brackets) → (host, port); ValueError naming what is wrong."""
    host, _, port_text = address.rpartition(":")
    host = host.strip("[]")
    if not host:
        raise ValueError(f"{address!r} names no host (e.g. 0.0.0.0:50051 for every interface)")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"{address!r} names no port from 0 to 65535")
    return host, int(port_text)


@contextlib.contextmanager
def reserved_port(address: str) -> Iterator[tuple[str, int]]:
    """Binds (never listens on) `host:port` with SO_REUSEPORT for as long as the workers run: port
    0 becomes a fixed port they all bind, and no process of another user can take it meanwhile
    (the kernel shares a port only among sockets of one user that all ask for it). A port some
    process listens on already (a forgotten server, whoever's) is refused first: sharing would
    be silent."""
    try:
        host, port = split_address(address)
    except ValueError as error:
        raise RuntimeError(str(error)) from None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if port:
        with socket.socket(family, socket.SOCK_STREAM) as probe:  # no SO_REUSEPORT: a plain bind
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
            try:
                probe.bind((host, port))
            except OSError as error:
                raise OSError(error.errno, f"{address}: {error.strerror}") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind((host, port))
        except OSError as error:
            raise OSError(error.errno, f"{address}: {error.strerror}") from None
        yield host, sock.getsockname()[1]
    finally:
        sock.close()


def host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def die_with_parent() -> None:
    """In a worker: asks the kernel for SIGTERM when the supervisor that started it ends (SIGKILL
    and OOM kills included); exits at once if it has ended already. Linux only; a no-op
    elsewhere and outside a supervisor."""
    expected = os.environ.get(SUPERVISOR_PID)
    if not expected or not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if str(os.getppid()) != expected:  # the supervisor ended before the request took effect
        raise SystemExit(1)


@dataclass
class Worker:
    number: int
    process: asyncio.subprocess.Process
    metrics_url: str | None = None
    ready: bool = False
    started: float = field(default_factory=time.monotonic)
    output: deque[str] = field(default_factory=lambda: deque(maxlen=50))  # for a failure's report


@dataclass(frozen=True)
class Scrape:
    """Where one worker slot's metrics are, and which process serves them now."""

    slot: int
    pid: int
    url: str


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
        self._env = {**env, SUPERVISOR_PID: str(os.getpid())}
        self._count = count
        self._ready = re.compile(ready)
        self._metrics = re.compile(metrics)
        self._grace = grace
        self._workers: dict[int, Worker] = {}
        self._watchers: set[asyncio.Task[None]] = set()
        self._delays: dict[int, float] = {}  # by worker number: the next restart's delay
        self._stopping = False

    def scrapes(self) -> list[Scrape]:
        """The running workers' own metrics, for summing (read from the metrics server's thread)."""
        return [
            Scrape(w.number, w.process.pid, w.metrics_url)
            for w in list(self._workers.values())
            if w.ready and w.metrics_url is not None and w.process.returncode is None
        ]

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
        if self._stopping:  # stop() began while this one was being started
            process.terminate()
            return
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
        worker.ready = True
        own = f"; its own metrics at {worker.metrics_url}" if worker.metrics_url else ""
        print(f"{self._name} worker {number} (pid {process.pid}) ready{own}", flush=True)
        watcher = asyncio.create_task(self._watch(worker))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)

    async def _watch(self, worker: Worker) -> None:
        """Echoes what the worker prints; when it dies while not being stopped, starts it again,
        waiting longer each time one in its place dies young."""
        while True:
            await self._echo(worker)
            code = await worker.process.wait()
            if self._stopping:
                return
            number = worker.number
            delay = self._delays.get(number, RESTART_DELAY)
            if time.monotonic() - worker.started >= SETTLED_AFTER:
                delay = RESTART_DELAY
            log.error("%s worker %d (pid %d) exited with %s; starting it again in %g s",
                      self._name, number, worker.process.pid, code, delay)  # fmt: skip
            await asyncio.sleep(delay)
            self._delays[number] = min(delay * 2, MAX_RESTART_DELAY)
            if self._stopping:
                return
            try:
                await self._start(number)
                return  # its own watcher takes over
            except Exception as error:
                log.error("%s", error)
                worker = self._workers[number]

    async def _echo(self, worker: Worker) -> None:
        assert worker.process.stdout is not None
        with contextlib.suppress(OSError, ValueError):
            while raw := await worker.process.stdout.readline():
                print(raw.decode(errors="replace").rstrip(), flush=True)

    async def stop(self) -> int:
        """SIGTERM to every worker, each draining for the grace; SIGKILL to any still there after.
        Their output is read meanwhile. Returns 0 when every worker stopped cleanly."""
        self._stopping = True  # no restart from here on
        workers = list(self._workers.values())
        for worker in workers:
            if worker.process.returncode is None:
                worker.process.send_signal(signal.SIGTERM)
        codes = await asyncio.gather(*(self._reap(worker) for worker in workers))
        for watcher in list(self._watchers):
            watcher.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)
        return 0 if all(code in (0, -signal.SIGTERM) for code in codes) else 1

    async def _reap(self, worker: Worker) -> int:
        try:
            return await asyncio.wait_for(worker.process.wait(), self._grace + 10)
        except TimeoutError:
            log.error("%s worker %d did not stop in time; killing it", self._name, worker.number)
            worker.process.kill()
            return await worker.process.wait()


class StopSignal:
    """SIGTERM or SIGINT, caught from the moment this is made (before anything slow starts)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._event.set)

    async def wait(self) -> None:
        await self._event.wait()

    async def interrupts(self, work: Awaitable[object]) -> bool:
        """Runs `work` (raising its errors) unless a signal comes first, which cancels it: True."""
        task = asyncio.ensure_future(work)
        signalled = asyncio.ensure_future(self._event.wait())
        try:
            await asyncio.wait({signalled, task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            signalled.cancel()
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if task.cancelled():
            return True
        task.result()
        return False


def child_command(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
