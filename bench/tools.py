"""The load tools: h2load (one gRPC body), bench.loadgen (a pool of bodies), wrk (HTTP/1.1)."""

from __future__ import annotations

import array
import asyncio
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.measure import ChildCpu, Measurement

LUA = Path(__file__).with_name("wrk_report.lua")
GRPC_HEADERS = ("content-type: application/grpc", "te: trailers")


@dataclass(frozen=True)
class Concurrency:
    connections: int
    streams: int = 1  # calls in flight per connection (HTTP/2 only)


def missing_tools() -> list[str]:
    return [tool for tool in ("h2load", "wrk") if shutil.which(tool) is None]


async def _run(argv: list[str], env: dict[str, str] | None = None) -> str:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env
    )
    out, _ = await process.communicate()
    text = out.decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({process.returncode}): {text[-500:]}")
    return text


async def h2load(
    url: str, body: Path, seconds: int, warmup: float, load: Concurrency, scratch: Path
) -> Measurement:
    log = scratch / "h2load.tsv"
    argv = ["h2load", "-t", "1", "-c", str(load.connections), "-m", str(load.streams)]
    argv += ["-D", f"{seconds}s", f"--warm-up-time={round(warmup * 1000)}ms", "-d", str(body)]
    argv += [arg for header in GRPC_HEADERS for arg in ("-H", header)]
    with ChildCpu() as cpu:
        out = await _run([*argv, "--log-file", str(log), url])
    counts = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed", out)
    if counts is None:
        raise RuntimeError(f"unexpected h2load output: {out[-500:]}")
    ok, failed = int(counts.group(1)), int(counts.group(2))
    rows = [line.split("\t") for line in log.read_text().splitlines() if line]
    first = min((int(r[0]) for r in rows), default=0)
    after_warmup = first + warmup * 1e6
    latencies = [int(r[2]) / 1e6 for r in rows if int(r[0]) >= after_warmup and r[1] == "200"]
    return Measurement("h2load", ok + failed, failed, float(seconds), latencies, cpu.seconds)


async def loadgen(
    port: int,
    path: str,
    bodies: Path,
    seconds: int,
    warmup: float,
    load: Concurrency,
    scratch: Path,
    *,
    expect_ok: bool = True,
    once: bool = False,
    rate: float = 0.0,
    offset: int = 0,
) -> Measurement:
    """bench.loadgen in one process (uvloop): enough here, see bench/README.md."""
    latencies_file = scratch / f"loadgen-{os.getpid()}-{time.monotonic_ns()}.f64"
    argv = [sys.executable, "-m", "bench.loadgen", "--port", str(port), "--path", path]
    argv += ["--bodies", str(bodies), "--offset", str(offset), "--latencies", str(latencies_file)]
    argv += ["--connections", str(load.connections), "--streams", str(load.streams)]
    argv += ["--seconds", str(seconds), "--warmup", str(warmup), "--rate", str(rate), "--loop", "uvloop"]
    with ChildCpu() as cpu:
        result = json.loads((await _run([*argv, *(["--once"] if once else [])])).strip().splitlines()[-1])
    samples = array.array("d")
    samples.frombytes(latencies_file.read_bytes())
    latencies_file.unlink()
    ok, errors = int(result["ok"]), int(result["errors"])
    unexpected = errors if expect_ok else ok
    measured = float(result["seconds"])
    return Measurement("loadgen", ok + errors, unexpected, measured, list(samples), cpu.seconds)


async def wrk(
    url: str, seconds: int, load: Concurrency, scratch: Path, token: str | None, pool: Path | None
) -> Measurement:
    """One second of warm-up (discarded), then the measured run."""
    out = scratch / "wrk.json"
    env = {**os.environ, "BENCH_WRK_OUT": str(out)}
    if pool is not None:
        env["BENCH_WRK_TOKENS"] = str(pool)
    argv = ["wrk", "-t", "1", "-c", str(load.connections), "-s", str(LUA)]
    argv += ["-H", f"Authorization: Bearer {token}"] if token else []
    await _run([*argv, "-d", "1s", url], env)
    with ChildCpu() as cpu:
        await _run([*argv, "-d", f"{seconds}s", url], env)
    report = json.loads(out.read_text())
    latencies = [value / 1e6 for value, count in report["histogram"] for _ in range(count)]
    return Measurement(
        "wrk", report["requests"], report["errors"], report["duration_us"] / 1e6, latencies, cpu.seconds
    )
