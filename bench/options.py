"""The knobs of one benchmark run, with the defaults `make bench` uses on a 2-core machine."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path

from bench.tools import Concurrency

RESULTS = Path(__file__).with_name("results")


@dataclass(frozen=True)
class Options:
    seconds: int = 2  # measured seconds per round (wrk counts whole seconds)
    rounds: int = 3  # each figure alternates this many rounds with its floor: the host is noisy
    warmup: float = 0.5
    # 8 connections x 8 calls in flight: like 8 client services, each pipelining on one channel.
    # Enough to keep one event loop busy; more only adds queueing latency (see bench/README.md).
    grpc: Concurrency = field(default_factory=lambda: Concurrency(8, 8))
    http: Concurrency = field(default_factory=lambda: Concurrency(32))  # wrk: keep-alive, one thread
    users: int = 4
    sessions: int = 10_000
    api_keys: int = 1_000
    login_seconds: int = 10  # the probe's p99 rests on its ~10 slowest of ~1,800 calls
    login_concurrency: int = 2 * (os.cpu_count() or 1)  # enough to keep every core on bcrypt
    probe_rate: float = 200.0  # ValidateToken calls/s of the p99 probe: light, so it measures, not loads
    profile: bool = True
    only: frozenset[str] = frozenset()  # scenario keys to run (e.g. 1a, 1b); empty: all
    out: Path = RESULTS / "latest.json"

    def wants(self, *keys: str) -> bool:
        return not self.only or bool(self.only.intersection(keys))

    @property
    def logs(self) -> Path:
        return self.out.parent / "logs"


def parse(argv: list[str] | None = None) -> Options:
    defaults = Options()
    p = argparse.ArgumentParser(prog="python -m bench", description="The authsvc benchmark (issue 6).")
    p.add_argument("--seconds", type=int, default=defaults.seconds, help="measured seconds per round")
    p.add_argument(
        "--rounds", type=int, default=defaults.rounds, help="rounds per figure, each beside its floor"
    )
    p.add_argument("--sessions", type=int, default=defaults.sessions)
    p.add_argument("--api-keys", type=int, default=defaults.api_keys)
    p.add_argument("--login-seconds", type=int, default=defaults.login_seconds)
    p.add_argument("--no-profile", action="store_true", help="skip py-spy of AuthService under load")
    p.add_argument("--only", default="", help="comma-separated scenario keys, e.g. 1a,1b (default: all)")
    p.add_argument("--out", type=Path, default=defaults.out)
    args = p.parse_args(argv)
    return Options(
        seconds=args.seconds,
        rounds=args.rounds,
        sessions=args.sessions,
        api_keys=args.api_keys,
        login_seconds=args.login_seconds,
        profile=not args.no_profile,
        only=frozenset(k.strip() for k in args.only.split(",") if k.strip()),
        out=args.out,
    )
