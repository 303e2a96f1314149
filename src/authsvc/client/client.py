"""An async AuthService client with deadlines, retries of UNAVAILABLE, a small validation cache,
and validations batched into ValidateTokens calls (authsvc.client.batching)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from types import TracebackType

import grpc

from authsvc.client.batching import TokenChecks
from authsvc.client.errors import AuthClientError
from authsvc.v1 import auth_pb2, auth_pb2_grpc

# Retries are gRPC's own (service config), so they honour the call's deadline and never retry a
# call that reached the server and failed for another reason.
_SERVICE_CONFIG = json.dumps(
    {
        "methodConfig": [
            {
                "name": [{"service": "authsvc.v1.AuthService"}],
                "retryPolicy": {
                    "maxAttempts": 5,
                    "initialBackoff": "0.1s",
                    "maxBackoff": "1s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
)

_CHANNEL_OPTIONS = [
    ("grpc.service_config", _SERVICE_CONFIG),
    ("grpc.enable_retries", 1),
    # Reconnect quickly to a restarted AuthService (gRPC's default first wait is a full second).
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
]


class AuthClient:
    """One long-lived channel to AuthService. Validations are cached for `cache_seconds` at most
    (and never past the token's expiry): a revocation can take that long to reach this client.
    Validations made at the same moment travel together in one ValidateTokens call, so a busy
    service costs AuthService a fraction of a call per request; each takes `deadline` at most."""

    def __init__(
        self,
        target: str,
        *,
        deadline: float = 1.0,
        cache_seconds: float = 1.0,
        cache_entries: int = 10_000,
        channel: grpc.aio.Channel | None = None,
    ) -> None:
        self._channel = channel or grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS)
        self._stub = auth_pb2_grpc.AuthServiceStub(self._channel)
        self._cache_seconds = cache_seconds
        self._cache_entries = cache_entries
        self._cache: dict[tuple[str, tuple[str, ...]], tuple[auth_pb2.Principal, float]] = {}
        self._checks = TokenChecks(self._stub, timeout=deadline)

    async def validate(self, token: str, required_permissions: Iterable[str] = ()) -> auth_pb2.Principal:
        required = tuple(sorted(required_permissions))
        key = (token, required)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            principal = await self._checks.check(token, required)
        except grpc.aio.AioRpcError as error:
            raise AuthClientError(error.code(), error.details() or error.code().name) from None
        keep_until = now + self._cache_seconds
        if principal.HasField("expires_at"):
            keep_until = min(keep_until, now + principal.expires_at.seconds - time.time())
        if self._cache_seconds > 0 and keep_until > now:
            if len(self._cache) >= self._cache_entries:
                self._cache.clear()
            self._cache[key] = (principal, keep_until)
        return principal

    async def charge(
        self, token: str, required_permissions: Iterable[str], cost: int = 1
    ) -> tuple[auth_pb2.Principal, list[auth_pb2.RateLimitState]]:
        """`validate`, charging `cost` API requests to the credential's limits (its key's and its
        workspace's plan): the principal and where each limit stands, or AuthClientError
        RESOURCE_EXHAUSTED with `retry_after` once one is spent. Never cached: each charge counts."""
        try:
            return await self._checks.charge(token, tuple(sorted(required_permissions)), cost)
        except grpc.aio.AioRpcError as error:
            raise AuthClientError(error.code(), error.details() or error.code().name) from None

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> AuthClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()
