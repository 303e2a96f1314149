"""What /proc tells about a process: CPU seconds, peak RSS (VmHWM), and which event loop it runs."""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime: fields 14 and 15


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM: the largest resident set since start, or since `reset_peak_rss`."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_peak_rss(pid: int) -> bool:
    """Makes VmHWM start again from the current RSS (Linux ≥ 4.0), so each scenario gets its own peak."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def times_scheduled(pid: int) -> int | None:
    """How many times `pid` has been given a CPU (schedstat's run count); None if unknown."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[2])
    except (OSError, IndexError, ValueError):
        return None


def event_loop_of(pid: int) -> str:
    """ "uvloop" when the process has uvloop's extension mapped, else "asyncio"."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return "asyncio"
    return "uvloop" if "/uvloop/loop." in maps else "asyncio"


def postgres_cpu_by_pid() -> dict[int, float]:
    """CPU time of each PostgreSQL process on this machine (the server shares our cores)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    found[int(entry.name)] = cpu_seconds(int(entry.name))
            except OSError:
                continue
    return found
