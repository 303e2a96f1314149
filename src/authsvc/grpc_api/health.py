"""The standard grpc.health.v1 service: SERVING only while a probe (PostgreSQL's `SELECT 1`) answers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from grpc_health.v1 import health, health_pb2

from authsvc.domain.errors import AuthError

log = logging.getLogger(__name__)
SERVICE_NAME = "authsvc.v1.AuthService"


Probe = Callable[[], Awaitable[object]]
"""Answers while the service can serve; raises (AuthError UNAVAILABLE, or anything) when not."""


class ServingHealth:
    """Keeps the health status of AuthService (and the server as a whole, "") in step with a probe."""

    def __init__(self, probe: Probe, interval: float = 1.0) -> None:
        self.servicer = health.aio.HealthServicer()
        self._probe = probe
        self._interval = interval

    async def check_once(self) -> bool:
        try:
            async with asyncio.timeout(max(self._interval, 1.0)):
                await self._probe()
        except (AuthError, TimeoutError):
            healthy = False
        except Exception:  # whatever went wrong, the answer is "not serving", never a dead loop
            log.exception("health check failed")
            healthy = False
        else:
            healthy = True
        status = (
            health_pb2.HealthCheckResponse.SERVING if healthy else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in (health.OVERALL_HEALTH, SERVICE_NAME):
            await self.servicer.set(name, status)
        return healthy

    async def run(self) -> None:
        """Re-checks every `interval` seconds until cancelled."""
        while True:
            await self.check_once()
            await asyncio.sleep(self._interval)

    async def shutting_down(self) -> None:
        await self.servicer.enter_graceful_shutdown()
