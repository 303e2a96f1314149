"""`python -m bench.inprocess`: what one ValidateToken costs in AuthService's own code, no gRPC.

The servicer is called in a loop on uvloop with a stand-in context (it only records the code and
the trailers), on the bench's database (bench.database) seeded as the bench seeds it: one API key
(2a), a key charged cost=1 under its limit (2c) and one over it (2d). Each figure is the best of
5 runs of 20,000 calls, in microseconds. Far steadier than the load figures (which move by
+-0.05 from run to run on these hosts), so it is the quick check of a change to the hot path;
under load each microsecond here costs several (see bench/README.md).
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from authsvc.bootstrap import open_runtime
from authsvc.config import Settings
from authsvc.grpc_api.servicer import AuthServicer
from authsvc.v1 import auth_pb2
from bench import database
from bench.runner import PLANS
from bench.seed import KEY_PERMISSIONS, seed


class StandInContext:
    """The part of grpc.aio's ServicerContext that ValidateToken touches."""

    def __init__(self) -> None:
        self.code: Any = None
        self.trailers: tuple[tuple[str, Any], ...] = ()

    def set_code(self, code: Any) -> None:
        self.code = code

    def set_details(self, details: str) -> None:
        pass

    def set_trailing_metadata(self, trailers: tuple[tuple[str, Any], ...]) -> None:
        self.trailers = trailers

    def invocation_metadata(self) -> tuple[()]:
        return ()

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"


async def _best_of(
    servicer: AuthServicer, request: auth_pb2.ValidateTokenRequest, calls: int
) -> tuple[float, str]:
    context = StandInContext()
    for _ in range(calls // 10):  # warm-up: caches, leases
        await servicer.ValidateToken(request, context)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(calls):
            await servicer.ValidateToken(request, context)
        best = min(best, (time.perf_counter() - started) / calls)
    return best * 1e6, "OK" if context.code is None else context.code.name


async def measure(calls: int) -> list[tuple[str, str, float, str]]:
    with tempfile.TemporaryDirectory(prefix="authsvc-inprocess-") as folder:
        plans = Path(folder) / "plans.toml"
        plans.write_text(PLANS)
        async with database.bench_database() as db:
            settings = Settings.from_env(
                {
                    "AUTHSVC_DATABASE_URL": db.dsn,
                    "AUTHSVC_JWT_SECRET": secrets.token_hex(32),
                    "AUTHSVC_PLANS_FILE": str(plans),
                    "AUTHSVC_BCRYPT_COST": "10",
                }
            )
            seeded = await seed(settings, users=1, sessions=1, api_keys=1)
            async with open_runtime(settings) as runtime:
                servicer = AuthServicer(runtime.services)
                cases = [
                    ("2a", "ValidateToken, API key", seeded.api_keys[0], 0),
                    ("2c", "ValidateToken cost=1, key under its limit", seeded.metered_key, 1),
                    ("2d", "ValidateToken cost=1, key over its limit", seeded.spent_key, 1),
                ]
                figures = []
                for key, title, token, cost in cases:
                    request = auth_pb2.ValidateTokenRequest(
                        token=token, required_permissions=KEY_PERMISSIONS[:1], cost=cost
                    )
                    micros, outcome = await _best_of(servicer, request, calls)
                    figures.append((key, title, micros, outcome))
                return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.inprocess", description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="calls per timed run (5 runs)")
    args = parser.parse_args()
    for key, title, micros, outcome in uvloop.run(measure(args.calls)):
        print(f"{key:3} {title:45} {micros:6.2f} us/call  {outcome}")


if __name__ == "__main__":
    main()
