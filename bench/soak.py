"""`make soak`: mixed load through the facade in front of two AuthService replicas for SOAK_MINUTES
(default 10, at least 1). Each minute it prints, per process, RSS, open file descriptors, database
connections, p99 and errors; at the end, growth after the first (warm-up) minute against the
bounds of issue 17: RSS <= 10 MB, no more descriptors or connections, zero errors. Exit status 1
when a bound is broken.

The load, from one client: GET /api/v1/auth/me with access tokens and API keys, logins, refreshes
and API key creations with their revocations, at a steady pace (SOAK_CONCURRENCY workers).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import os
import re
import secrets
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg

from bench import database, servers
from bench.runner import authsvc_env

PASSWORD = "a soak password, long enough"
RSS_GROWTH_MB = 10.0
METRICS_LINE = re.compile(r"metrics on (http://\S+)")
BUCKET = re.compile(r'^grpc_server_handling_seconds_bucket\{.*le="([^"]+)"\} (\S+)$')
HANDLED = re.compile(r'^grpc_server_handled_total\{.*grpc_code="([^"]+)"\} (\S+)$')


def _named(dsn: str, name: str) -> str:
    """The DSN with application_name set, so pg_stat_activity tells the replicas' pools apart."""
    parts = urlsplit(dsn)
    query = "&".join(q for q in (parts.query, f"application_name={name}") if q)
    return urlunsplit(parts._replace(query=query))


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _p99(latencies: list[float]) -> float:
    if not latencies:
        return 0.0
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


@dataclass
class Scrape:
    buckets: dict[float, float] = field(default_factory=dict)  # le -> cumulative count, all methods
    errors: int = 0  # RPCs that ended in anything but OK


async def _scrape(http: aiohttp.ClientSession, url: str) -> Scrape:
    async with http.get(url) as reply:
        text = await reply.text()
    scrape = Scrape()
    for line in text.splitlines():
        if found := BUCKET.match(line):
            bound = float(found.group(1))
            scrape.buckets[bound] = scrape.buckets.get(bound, 0.0) + float(found.group(2))
        elif (found := HANDLED.match(line)) and found.group(1) != "OK":
            scrape.errors += int(float(found.group(2)))
    return scrape


def _histogram_p99(before: Scrape, after: Scrape) -> float:
    """The upper bound of the bucket holding the 99th percentile of the RPCs between two scrapes."""
    bounds = sorted(after.buckets)
    counts = [after.buckets[b] - before.buckets.get(b, 0.0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return 0.0
    return bounds[min(len(bounds) - 1, bisect.bisect_left(counts, counts[-1] * 0.99))]


@dataclass
class Load:
    http: aiohttp.ClientSession
    base: str
    email: str
    latencies: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    async def call(self, kind: str, method: str, path: str, token: str = "", body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        started = time.perf_counter()
        try:
            async with self.http.request(method, self.base + path, json=body, headers=headers) as reply:
                data = await reply.json() if reply.content_type == "application/json" else None
                status = reply.status
        except (aiohttp.ClientError, TimeoutError) as error:
            data, status = None, -1
            self.outcomes[type(error).__name__] += 1
        self.latencies.append(time.perf_counter() - started)
        self.outcomes[f"{kind} {status}"] += 1
        if not 200 <= status < 300:
            self.errors.append(f"{kind} {status}")
        return data

    async def login(self) -> dict[str, str]:
        pair: dict[str, str] = await self.call(
            "login", "POST", "/api/v1/auth/login", body={"email": self.email, "password": PASSWORD}
        )
        return pair

    async def worker(self, number: int, until: float) -> None:
        pair = await self.login()
        body = {"name": f"soak-{number}", "permissions": ["geofences:read"], "environment": "test"}
        key = await self.call("create key", "POST", "/api/v1/api-keys", pair["access_token"], body)
        for turn in itertools.count():
            if time.monotonic() >= until:
                return
            if turn % 10 == 0:
                refreshed = await self.call(
                    "refresh", "POST", "/api/v1/auth/refresh", body={"refresh_token": pair["refresh_token"]}
                )
                pair = refreshed or pair
            elif turn % 50 == 1:
                await self.call("revoke key", "DELETE", f"/api/v1/api-keys/{key['id']}", pair["access_token"])
                key = await self.call("create key", "POST", "/api/v1/api-keys", pair["access_token"], body)
            elif turn % 100 == 2:
                pair = await self.login()
            else:
                await self.call(
                    "me", "GET", "/api/v1/auth/me", pair["access_token"] if turn % 2 else key["key"]
                )
            await asyncio.sleep(0.01)


async def _connections(dsn: str) -> dict[str, int]:
    conn: Any = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT application_name, count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() GROUP BY 1"
        )
    finally:
        await conn.close()
    return {row[0] or "(unnamed)": row[1] for row in rows}


async def soak(minutes: int, concurrency: int, logs: Path) -> bool:
    await asyncio.to_thread(logs.mkdir, parents=True, exist_ok=True)
    async with contextlib.AsyncExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="authsvc-soak-")))
        db = await stack.enter_async_context(database.bench_database())
        email = f"soak-{secrets.token_hex(4)}@example.com"
        env = authsvc_env(db.dsn, scratch / "plans.toml")
        env.update(
            AUTHSVC_BOOTSTRAP_ADMIN_EMAIL=email,
            AUTHSVC_BOOTSTRAP_ADMIN_PASSWORD=PASSWORD,
            AUTHSVC_METRICS_ADDRESS="127.0.0.1:0",
            AUTHSVC_BCRYPT_COST=env.get("AUTHSVC_BCRYPT_COST", "10"),
        )
        argv = [*servers.console_script("authsvc"), "serve"]
        replicas = []
        for name in ("replica-a", "replica-b"):  # one after the other: the first migrates
            named = {**env, "AUTHSVC_DATABASE_URL": _named(db.dsn, name)}
            replicas.append(await stack.enter_async_context(servers.running(name, argv, named, logs)))
        facade_env = {k: v for k, v in os.environ.items() if not k.startswith("HTTP_FACADE_")}
        facade_env.update(
            HTTP_FACADE_HOST="127.0.0.1",
            HTTP_FACADE_PORT="0",
            HTTP_FACADE_AUTHSVC_TARGET="ipv4:" + ",".join(f"127.0.0.1:{r.port}" for r in replicas),
        )
        facade_argv = [*servers.console_script("http-facade"), "serve"]
        facade = await stack.enter_async_context(servers.running("facade", facade_argv, facade_env, logs))
        metrics = {r.name: METRICS_LINE.search(r.log.read_text()) for r in replicas}
        http = await stack.enter_async_context(aiohttp.ClientSession())
        load = Load(http, f"http://127.0.0.1:{facade.port}", email)
        processes = {**{r.name: r.pid for r in replicas}, "facade": facade.pid}
        print(f"PostgreSQL {db.version} ({db.source}); {concurrency} workers for {minutes} min", flush=True)
        print(
            f"{'min':>3} {'process':<10} {'RSS MB':>7} {'fds':>4} {'db conns':>8} {'p99 ms':>7} {'errors':>6}"
        )

        until = time.monotonic() + minutes * 60
        workers = [asyncio.create_task(load.worker(i, until)) for i in range(concurrency)]
        scrapes = {n: await _scrape(http, m.group(1) + "/metrics") for n, m in metrics.items() if m}
        rows: list[dict[str, dict[str, float]]] = []
        for minute in range(1, minutes + 1):
            await asyncio.sleep(max(0.0, until - (minutes - minute) * 60 - time.monotonic()))
            connections = await _connections(db.dsn)
            row: dict[str, dict[str, float]] = {}
            for name, pid in processes.items():
                if name in scrapes and (found := metrics[name]):
                    now = await _scrape(http, found.group(1) + "/metrics")
                    p99, errors = _histogram_p99(scrapes[name], now), now.errors - scrapes[name].errors
                    scrapes[name] = now
                else:  # the facade: what its client saw
                    p99, errors = _p99(load.latencies), len(load.errors)
                    load.latencies, load.errors = [], []
                conns = float(connections.get(name, 0))
                row[name] = {
                    "rss": _rss_mb(pid),
                    "fds": _fds(pid),
                    "conns": conns,
                    "p99": p99,
                    "errors": errors,
                }
                print(
                    f"{minute:>3} {name:<10} {row[name]['rss']:>7.1f} {row[name]['fds']:>4.0f} {conns:>8.0f} "
                    f"{p99 * 1000:>7.1f} {errors:>6.0f}",
                    flush=True,
                )
            total = sum(connections.values())
            print(
                f"{minute:>3} {'database':<10} {'':>7} {'':>4} {total:>8} (all, listeners included)",
                flush=True,
            )
            row["database"] = {"conns": float(total)}
            rows.append(row)
        await asyncio.gather(*workers)
    print(f"requests: {dict(sorted(load.outcomes.items()))}")
    return _verdict(rows)


def _verdict(rows: list[dict[str, dict[str, float]]]) -> bool:
    """After the first minute (warm-up): RSS growth, descriptor and connection growth, errors."""
    first, last = rows[0], rows[-1]
    broken = []
    for name in first:
        if name == "database":
            continue
        growth = last[name]["rss"] - first[name]["rss"]
        print(
            f"{name}: RSS {growth:+.1f} MB after warm-up, fds {last[name]['fds'] - first[name]['fds']:+.0f}"
        )
        if growth > RSS_GROWTH_MB:
            broken.append(f"{name} RSS grew {growth:.1f} MB")
        if last[name]["fds"] > first[name]["fds"]:
            broken.append(f"{name} descriptors grew")
        errors = sum(row[name]["errors"] for row in rows)
        if errors:
            broken.append(f"{name}: {errors:.0f} errors")
    if last["database"]["conns"] > first["database"]["conns"]:
        broken.append("database connections grew")
    print(
        "verdict:", "; ".join(broken) if broken else "within the bounds (RSS <= 10 MB, no growth, 0 errors)"
    )
    return not broken


def main() -> None:
    minutes = max(1, int(os.environ.get("SOAK_MINUTES", "10")))
    concurrency = int(os.environ.get("SOAK_CONCURRENCY", "8"))
    ok = asyncio.run(soak(minutes, concurrency, Path("bench/results/soak-logs")))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
