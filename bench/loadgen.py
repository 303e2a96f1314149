"""A closed-loop gRPC load generator for request bodies that change per call (h2load sends one).

Sends each request from a pool (round robin from `--offset`, or each body once), pipelining
`--streams` calls on each of `--connections` connections like h2load's `-c`/`-m`, and reports
the calls that completed in the measured window, their outcomes and latencies. One process on
uvloop keeps up with h2load here (bench/README.md). `python -m bench.loadgen --help`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from bench import h2wire as w
from bench.h2client import GrpcConnection, Run


async def drive(args: argparse.Namespace, bodies: list[bytes]) -> Run:
    run = Run(bodies, args.once, args.warmup, args.seconds)
    block = w.grpc_header_block(f"{args.host}:{args.port}", args.path)
    slots = args.connections * args.streams
    interval = slots / args.rate if args.rate else 0.0
    loop = asyncio.get_running_loop()
    connections = []
    for _ in range(args.connections):
        _, protocol = await loop.create_connection(
            lambda: GrpcConnection(run, block, args.streams, interval), args.host, args.port
        )
        connections.append(protocol)
    run.start()
    for connection in connections:
        connection.begin()
    await asyncio.wait_for(asyncio.gather(*(c.closed for c in connections)), args.warmup + args.seconds + 10)
    return run


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.loadgen", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", required=True, help="e.g. /authsvc.v1.AuthService/ValidateToken")
    p.add_argument("--bodies", required=True, help="concatenated length-prefixed gRPC messages")
    p.add_argument("--offset", type=int, default=0, help="start at this body (round robin from there)")
    p.add_argument("--connections", type=int, default=1)
    p.add_argument("--streams", type=int, default=1, help="calls in flight per connection")
    p.add_argument("--warmup", type=float, default=0.5)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--once", action="store_true", help="send each body at most once")
    p.add_argument("--rate", type=float, default=0.0, help="calls/s at most (0: closed loop)")
    p.add_argument("--latencies", required=True, help="where to write latencies (float64 seconds)")
    p.add_argument("--loop", choices=["asyncio", "uvloop"], default="uvloop")
    return p


def main() -> None:
    args = parser().parse_args()
    if args.loop == "uvloop":
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    pool = w.split_messages(Path(args.bodies).read_bytes())
    start = args.offset % len(pool)
    run = asyncio.run(drive(args, pool[start:] + pool[:start]))
    Path(args.latencies).write_bytes(run.latencies.tobytes())
    ended = min(run.end, run.last_done) if args.once else run.end
    seconds = max(ended - run.warm_end, 1e-9)
    print(json.dumps({"ok": run.ok, "errors": run.errors, "seconds": seconds}), flush=True)


if __name__ == "__main__":
    main()
