"""py-spy samples AuthService while ValidateToken runs: one access token, the pool of them, one
API key, a key charged cost=1 under its limit (2c) and one over it (2d).

Samples are taken only while a thread holds the GIL (`--gil`), with native frames (`--native`),
so they show what the event loop spends its CPU on. The folded stacks are kept for a flamegraph
(e.g. inferno or speedscope); the summary charges each sample to its innermost Python function
(native callees included) and lists the native functions that were running.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections import Counter
from pathlib import Path

from bench import payloads, tools
from bench.rig import Rig

_LINE = re.compile(r":\d+\)$")
_PYTHON = re.compile(r"\((?:.*\.py|<[^>]+>)\)$")


def py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def _library(frame: str) -> str:
    """Where a frame's code lives: "write (libc.so.6)" -> "libc", ".../cygrpc.cpython-...so" -> "cygrpc"."""
    if _PYTHON.search(frame):
        return "Python code"
    where = frame.rpartition("(")[2].rstrip(")")
    return where.rsplit("/", 1)[-1].split(".")[0] if ".so" in where else "C with symbols (CPython, uvloop)"


def summarise(folded: Path, top: int = 12) -> list[str]:
    python_self: Counter[str] = Counter()
    python_total: Counter[str] = Counter()
    native_self: Counter[str] = Counter()
    library: Counter[str] = Counter()
    samples = 0
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_LINE.sub(")", f.strip()) for f in stack.split(";")]
        python = [f for f in frames if _PYTHON.search(f)]
        n = int(count)
        samples += n
        native_self[frames[-1]] += n if not _PYTHON.search(frames[-1]) else 0
        library[_library(frames[-1])] += n
        if python:
            python_self[python[-1]] += n
            for name in set(python):
                python_total[name] += n
    if not samples:
        return ["no samples"]

    def share(counter: Counter[str], limit: int) -> list[str]:
        return [f"  {100 * n / samples:5.1f}%  {name}" for name, n in counter.most_common(limit) if n]

    return [
        f"{samples} samples with the GIL held; by innermost Python function (its native calls included):",
        *share(python_self, top),
        "native code running:",
        *share(native_self, top // 2),
        "by where the running code lives: "
        + ", ".join(f"{name} {100 * n / samples:.0f}%" for name, n in library.most_common(6)),
        "on the stack (inclusive):",
        *share(python_total, top * 2),
    ]


async def _record(
    rig: Rig, spy: str, name: str, tokens: list[str], seconds: int, cost: int = 0
) -> dict[str, object]:
    out_dir, o = rig.options.out.parent, rig.options
    folded = out_dir / f"profile-{name}.folded"
    body = payloads.write(rig.scratch / f"profile-{name}.bin", [payloads.validate(t, cost) for t in tokens])
    path = payloads.SERVICE + "ValidateToken"
    load = tools.loadgen(rig.authsvc.port, path, body, seconds + 1, 0.5, o.grpc, rig.scratch)
    recorder = await asyncio.create_subprocess_exec(
        spy, "record", "--gil", "--native", "--rate", "250", "--duration", str(seconds),
        "--format", "raw", "--output", str(folded), "--pid", str(rig.authsvc.pid),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, (_, err) = await asyncio.gather(load, recorder.communicate())
    if recorder.returncode != 0 or not folded.exists():
        return {"skipped": f"py-spy failed: {err.decode(errors='replace')[-300:]}"}
    summary = summarise(folded)
    (out_dir / f"profile-{name}.txt").write_text("\n".join(summary) + "\n")
    return {"folded": str(folded), "summary": summary}


async def profile_validate(rig: Rig, seconds: int = 5) -> dict[str, object]:
    spy = py_spy()
    if spy is None:
        return {"skipped": "py-spy not installed (make bench installs the bench extra)"}
    tokens = rig.seeded.access_tokens
    return {
        "validatetoken-one": await _record(rig, spy, "validatetoken-one", tokens[:1], seconds),
        "validatetoken-pool": await _record(rig, spy, "validatetoken-pool", tokens, seconds),
        "validatetoken-key": await _record(rig, spy, "validatetoken-key", rig.seeded.api_keys[:1], seconds),
        "validatetoken-charged": await _record(
            rig, spy, "validatetoken-charged", [rig.seeded.metered_key], seconds, cost=1
        ),
        "validatetoken-spent": await _record(
            rig, spy, "validatetoken-spent", [rig.seeded.spent_key], seconds, cost=1
        ),
    }
