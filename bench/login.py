"""Scenario 5: Login at the configured bcrypt cost against the machine's limit, and ValidateToken's
p99 while logins run (a blocked event loop would show there first).

5c is the reference for 5b: the same probe while plain CPU burners, one per core, run in another
process at the lowest priority Linux has (SCHED_IDLE). AuthService does nothing but answer the
probe then, so 5c is what saturated cores alone do to the probe's tail on this machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator

import bcrypt

from bench import figures, paired, payloads, tools, verify
from bench.measure import Measurement
from bench.model import Check, Figure
from bench.rig import Rig
from bench.tools import Concurrency

PROBE = Concurrency(1, 1)
_BURN = "import os; os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))\nwhile True: pass"


@contextlib.asynccontextmanager
async def idle_burners(count: int) -> AsyncIterator[None]:
    """`count` processes spinning on the CPU at SCHED_IDLE until the block ends (all of them
    killed, whatever happens); fails if one of them has stopped by the time the block starts."""
    burners: list[asyncio.subprocess.Process] = []
    try:
        for _ in range(count):
            burners.append(
                await asyncio.create_subprocess_exec(
                    sys.executable, "-c", _BURN, stdin=asyncio.subprocess.DEVNULL
                )
            )
        await asyncio.sleep(0.2)  # a burner refused SCHED_IDLE would have exited by now
        if any(burner.returncode is not None for burner in burners):
            raise RuntimeError("a CPU burner for 5c stopped: SCHED_IDLE refused?")
        yield
    finally:
        for burner in burners:
            if burner.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    burner.kill()
                await burner.wait()


def one_hash_seconds(cost: int, samples: int = 3) -> float:
    """The median time of one bcrypt check at `cost`, on this machine, now."""
    hashed = bcrypt.hashpw(b"benchmark", bcrypt.gensalt(cost))
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        bcrypt.checkpw(b"benchmark", hashed)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


async def run_login(rig: Rig) -> list[Figure]:
    o, s = rig.options, rig.seeded
    cores = os.cpu_count() or 1
    hash_seconds = await asyncio.to_thread(one_hash_seconds, rig.bcrypt_cost)
    limit = cores / hash_seconds
    logins = payloads.write(rig.scratch / "5-login.bin", [payloads.login(e, s.password) for e in s.emails])
    probe_body = payloads.write(rig.scratch / "5-probe.bin", [payloads.validate(s.access_tokens[0])])
    login_path = payloads.SERVICE + "Login"
    probe_path = payloads.SERVICE + "ValidateToken"
    port = rig.authsvc.port
    probe_seconds = o.login_seconds - 1  # starts after the logins' warm-up, ends before they do

    def probe() -> asyncio.Future[Measurement]:
        run = tools.loadgen(
            port, probe_path, probe_body, probe_seconds, 1.5, PROBE, rig.scratch, rate=o.probe_rate
        )  # fmt: skip
        return asyncio.ensure_future(run)

    unloaded = await probe()
    verified = await verify.grpc_status(port, "Login", [payloads.login(s.emails[0], s.password)])
    loaded: list[Measurement] = []

    async def logins_with_probe(number: int) -> Measurement:
        load = Concurrency(o.login_concurrency)
        login_run = tools.loadgen(port, login_path, logins, o.login_seconds, 1.0, load, rig.scratch)
        measured, probed = await asyncio.gather(login_run, probe())
        loaded.append(probed)
        return measured

    outcome = await paired.measure(rig.dsn, rig.watched, logins_with_probe, rounds=1)
    async with idle_burners(cores):
        burned = await probe()
    login = figures.from_outcome("5a", f"Login, bcrypt cost {rig.bcrypt_cost}", outcome, verified, "")
    login.ratio = (login.rate or 0.0) / limit
    login.versus = f"bcrypt limit {limit:.1f}/s ({cores} cores / {hash_seconds * 1000:.0f} ms)"
    login.checks = [figures.at_least_ratio(login, 0.90, "bcrypt limit"), figures.rss_within(login, 150)]
    login.notes.append(f"{o.login_concurrency} logins in flight")
    figures.expected_outcomes(login, "OK")
    loaded_probe = _probe_figure("5b", "ValidateToken p99 while logins run", loaded[0], unloaded)
    loaded_probe.checks = [Check.at_most("p99 <= 2.00 x unloaded", loaded_probe.ratio, 2.0)]
    loaded_probe.notes.append(f"probe: one call at a time, at most {o.probe_rate:.0f}/s")
    burned_probe = _probe_figure("5c", f"5b's probe beside {cores} idle-priority burners", burned, unloaded)
    burned_probe.notes.append("no logins: CPU burners in another process at SCHED_IDLE, one per core")
    return [login, loaded_probe, burned_probe]


def _probe_figure(key: str, title: str, probed: Measurement, unloaded: Measurement) -> Figure:
    figure = figures.describe(key, title, probed, "OK")
    base = unloaded.percentile(99)
    if figure.p99_ms is not None and base:
        figure.ratio = figure.p99_ms / (base * 1000)
        figure.versus = f"unloaded p99 {base * 1000:.2f} ms"
    figures.expected_outcomes(figure, "OK")
    return figure
