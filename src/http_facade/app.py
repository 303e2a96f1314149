"""The app factory: tests and `http-facade serve` build the facade the same way."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from aiohttp import web
from grpc_health.v1 import health_pb2_grpc

from authsvc.client.batching import TokenChecks
from authsvc.client.channel import channel_options
from authsvc.client.local_verification import LocalVerifier
from authsvc.v1 import auth_pb2_grpc
from http_facade.config import Settings
from http_facade.errors import json_errors
from http_facade.metrics import METRICS, HttpMetrics, measured
from http_facade.request_ids import with_request_id
from http_facade.routes import add_routes
from http_facade.runner import name_no_software
from http_facade.state import SETTINGS, UPSTREAM, Upstream

# The SDK's: several replicas round-robin, a replica's crash retried on another, and AuthService
# starting after the facade (`make run`) or restarting reconnected within seconds.
CHANNEL_OPTIONS = channel_options(max_reconnect_ms=3000)
CHANNEL_CLOSE_GRACE_SECONDS = 5.0


def create_app(settings: Settings, summed_metrics: str | None = None) -> web.Application:
    """`summed_metrics`: the URL of the workers' metrics added up, when this is one of several."""
    app = web.Application(
        middlewares=[measured, with_request_id, json_errors],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[METRICS] = HttpMetrics.create(summed_metrics)
    add_routes(app)
    app.on_response_prepare.append(name_no_software)
    app.cleanup_ctx.append(_upstream)
    return app


async def _upstream(app: web.Application) -> AsyncIterator[None]:
    """Opens the one long-lived channel to AuthService at start-up and closes it at shutdown."""
    channel = grpc.aio.insecure_channel(app[SETTINGS].authsvc_target, options=CHANNEL_OPTIONS)
    local: LocalVerifier | None = None
    try:
        auth = auth_pb2_grpc.AuthServiceStub(channel)
        settings = app[SETTINGS]
        checks = TokenChecks(auth, timeout=settings.call_timeout_seconds)
        if settings.local_verification_key is not None:
            local = LocalVerifier(
                auth,
                settings.local_verification_key,
                checks.check,
                target=settings.authsvc_target,
                max_staleness_seconds=settings.max_staleness_seconds,
                first_sync_seconds=settings.call_timeout_seconds,
            )
            local.start()
        app[UPSTREAM] = Upstream(channel, auth, health_pb2_grpc.HealthStub(channel), checks, local)
        yield
    finally:
        if local is not None:
            await local.close()
        await channel.close(CHANNEL_CLOSE_GRACE_SECONDS)
