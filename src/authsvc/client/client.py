"""An async AuthService client with deadlines, a short retry of UNAVAILABLE, a small validation
cache, and validations batched into ValidateTokens calls (authsvc.client.batching)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from types import TracebackType

import grpc

from authsvc.client.batching import TokenChecks
from authsvc.client.channel import channel_options
from authsvc.client.errors import UNAVAILABLE, AuthClientError
from authsvc.client.local_verification import LocalVerifier
from authsvc.client.principal import Principal
from authsvc.v1 import auth_pb2, auth_pb2_grpc

_log = logging.getLogger("authsvc.client")

_CHANNEL_OPTIONS = channel_options()


class AuthClient:
    """One long-lived channel to AuthService. Validations are cached for `cache_seconds` at most
    (and never past the token's expiry): a revocation can take that long to reach this client.
    Validations made at the same moment travel together in one ValidateTokens call, so a busy
    service costs AuthService a fraction of a call per request; each takes `deadline` at most.

    With `local_verification_key` (an API key holding `tokens:verify`), credentials are checked
    in-process instead (authsvc.client.local_verification): access tokens with the streamed
    public keys, API keys asked once and kept until revoked, all of it exact as of the
    revocation stream's last message, and refused UNAVAILABLE once that is older than
    `max_staleness_seconds`. The cache above is then not used.

    Safe to create anywhere, at import time included: the channel is opened on first use, in the
    event loop running then, and the client belongs to that loop from then on (grpc.aio objects
    cannot move between loops)."""

    def __init__(
        self,
        target: str,
        *,
        deadline: float = 1.0,
        cache_seconds: float = 1.0,
        cache_entries: int = 10_000,
        channel: grpc.aio.Channel | None = None,
        local_verification_key: str | None = None,
        max_staleness_seconds: float = 10.0,
    ) -> None:
        self._target = target
        self._deadline = deadline
        self._channel = channel
        self._loop: asyncio.AbstractEventLoop | None = None
        self._checks_now: TokenChecks | None = None
        if channel is not None:
            self._checks_now = TokenChecks(auth_pb2_grpc.AuthServiceStub(channel), timeout=deadline)
        self._cache_seconds = cache_seconds
        self._cache_entries = cache_entries
        self._cache: dict[tuple[str, tuple[str, ...]], tuple[Principal, float]] = {}
        if local_verification_key is not None and max_staleness_seconds <= 0:
            raise ValueError("max_staleness_seconds must be positive")
        self._local_key = local_verification_key
        self._max_staleness = max_staleness_seconds
        self._local: LocalVerifier | None = None

    def _checks(self) -> TokenChecks:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise RuntimeError(
                "this AuthClient was first used in another event loop; grpc.aio channels cannot "
                "move between loops: make one AuthClient per loop (e.g. in the app's startup)"
            )
        if self._checks_now is None:
            self._channel = grpc.aio.insecure_channel(self._target, options=_CHANNEL_OPTIONS)
            self._checks_now = TokenChecks(
                auth_pb2_grpc.AuthServiceStub(self._channel), timeout=self._deadline
            )
        return self._checks_now

    async def validate(self, token: str, required_permissions: Iterable[str] = ()) -> Principal:
        """The principal behind `token` (a JWT or an API key), holding every one of
        `required_permissions`; AuthClientError otherwise (UNAUTHENTICATED, PERMISSION_DENIED,
        UNAVAILABLE "Service unavailable" when AuthService cannot answer)."""
        required = tuple(sorted(required_permissions))
        if self._local_key is not None:
            return await self._verifier().validate(token, required)
        key = (token, required)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        message = await self._ask(token, required)
        principal = Principal.from_message(message)
        keep_until = now + self._cache_seconds
        if message.HasField("expires_at"):
            keep_until = min(keep_until, now + message.expires_at.seconds - time.time())
        if self._cache_seconds > 0 and keep_until > now:
            if len(self._cache) >= self._cache_entries:
                self._cache.clear()
            self._cache[key] = (principal, keep_until)
        return principal

    async def _ask(self, token: str, required: tuple[str, ...]) -> auth_pb2.Principal:
        """AuthService's verdict on `token`, as callers of a protected service should hear it."""
        try:
            return await self._checks().check(token, required)
        except (AuthClientError, grpc.aio.AioRpcError) as error:
            raise _answer(error) from None

    def _verifier(self) -> LocalVerifier:
        if self._local is None:
            self._checks()  # binds the client to this loop and opens the channel
            assert self._channel is not None and self._local_key is not None
            self._local = LocalVerifier(
                auth_pb2_grpc.AuthServiceStub(self._channel),
                self._local_key,
                self._ask,
                target=self._target,
                max_staleness_seconds=self._max_staleness,
                first_sync_seconds=self._deadline,
            )
        return self._local

    async def charge(
        self, token: str, required_permissions: Iterable[str], cost: int = 1
    ) -> tuple[Principal, list[auth_pb2.RateLimitState]]:
        """`validate`, charging `cost` API requests to the credential's limits (its key's and its
        workspace's plan): the principal and where each limit stands, or AuthClientError
        RESOURCE_EXHAUSTED with `retry_after` once one is spent. Never cached: each charge counts."""
        try:
            message, limits = await self._checks().charge(token, tuple(sorted(required_permissions)), cost)
        except (AuthClientError, grpc.aio.AioRpcError) as error:
            raise _answer(error) from None
        return Principal.from_message(message), limits

    async def close(self) -> None:
        if self._local is not None:
            await self._local.close()
        if self._channel is not None:
            await self._channel.close()

    async def __aenter__(self) -> AuthClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()


def _answer(error: AuthClientError | grpc.aio.AioRpcError) -> AuthClientError:
    """What the caller of a protected service should hear. AuthService's own refusals keep their
    code and text. A check AuthService did not answer (down, too slow, overloaded, the call
    failed) is UNAVAILABLE "Service unavailable" whatever the cause, so callers see one answer
    for an outage (503) and never a transport message with addresses in it."""
    if isinstance(error, AuthClientError) and error.code not in _NOT_ANSWERED:
        return error
    code = error.code if isinstance(error, AuthClientError) else error.code()
    _log.warning("AuthService did not answer a check: %s", code.name)
    return AuthClientError(grpc.StatusCode.UNAVAILABLE, UNAVAILABLE)


# Codes a check ends with when AuthService gave no verdict on the credential.
_NOT_ANSWERED = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.DATA_LOSS,
    }
)
