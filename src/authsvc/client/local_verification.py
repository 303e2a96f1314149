"""Local verification: credentials checked in-process, kept exact by a WatchRevocations stream.

Access tokens are verified here with the streamed public keys and AuthService's own claim rules,
then checked against the streamed revoked sessions and disabled users: no call per request. An
API key is asked about once (ValidateTokens), then kept until the stream says it was revoked,
rotated or changed. HS256 tokens, whose secret is never streamed, are asked about each time.

Staleness is explicit: while the stream delivers (a heartbeat at least every second), answers are
exact as of its last message. Once nothing has arrived for `max_staleness_seconds`, every check
fails UNAVAILABLE "Service unavailable" until the stream is back; the stream resumes where it
left off, or starts from a fresh snapshot. Each change of state is one log line, and the state
and lag are Prometheus metrics (authsvc_client_revocation_stream_*).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import Literal

import grpc
from prometheus_client.core import REGISTRY, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from authsvc.client.errors import NOT_AUTHENTICATED, UNAVAILABLE, AuthClientError
from authsvc.client.principal import Principal
from authsvc.client.revocation_state import RevocationState, permitted
from authsvc.domain.errors import AuthError
from authsvc.grpc_api.errors import STATUS_FOR
from authsvc.v1 import auth_pb2, auth_pb2_grpc

_log = logging.getLogger("authsvc.client")
Ask = Callable[[str, tuple[str, ...]], Awaitable[auth_pb2.Principal]]
State = Literal["connecting", "connected", "disconnected", "stale"]
_RETRY_FIRST, _RETRY_MAX = 0.1, 2.0  # seconds between attempts to open the stream again


class LocalVerifier:
    def __init__(
        self,
        stub: auth_pb2_grpc.AuthServiceStub,
        credential: str,
        ask: Ask,
        *,
        target: str,
        max_staleness_seconds: float = 10.0,
        first_sync_seconds: float = 1.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._stub = stub
        self._credential = credential
        self._ask = ask
        self.target = target
        self._max_staleness = max_staleness_seconds
        self._first_sync = first_sync_seconds
        self._wall_clock = wall_clock
        self.state_of_stream: State = "connecting"
        self._revocations = RevocationState()
        self._last_heard: float | None = None  # monotonic time of the stream's last message
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        _VERIFIERS.add(self)

    @property
    def sequence(self) -> int:
        return self._revocations.sequence

    def lag(self) -> float | None:
        """Seconds since the stream's last message (None before the first)."""
        return None if self._last_heard is None else time.monotonic() - self._last_heard

    def start(self) -> None:
        """Opens the stream now (else at the first check), in the running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._follow())

    async def validate(self, token: str, required: tuple[str, ...]) -> Principal:
        self.start()
        if not self._synced.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._synced.wait(), self._first_sync)
        self._check_fresh()
        if not token:
            raise AuthClientError(grpc.StatusCode.UNAUTHENTICATED, NOT_AUTHENTICATED)
        state, now = self._revocations, int(self._wall_clock())
        try:
            if token.count(".") == 2:  # a JWT
                found = state.check_access_token(token, required, now)
                if found is not None:
                    return found
                return Principal.from_message(await self._ask(token, required))  # HS256
            found = state.known_api_key(token, required, now)
            if found is not None:
                return found
            epoch = state.key_epoch
            answer = await self._ask(token, ())
            return permitted(state.remember_api_key(token, answer, epoch), required)
        except AuthError as error:
            raise AuthClientError(STATUS_FOR[error.code], error.detail) from None

    def _check_fresh(self) -> None:
        lag = self.lag()
        if lag is None or lag > self._max_staleness:
            if self.state_of_stream != "stale" and lag is not None:
                self._become("stale", f"nothing heard for {lag:.1f} s: refusing every check")
            raise AuthClientError(grpc.StatusCode.UNAVAILABLE, UNAVAILABLE)

    async def _follow(self) -> None:
        """Keeps a WatchRevocations stream open, resuming after the last event applied."""
        wait = _RETRY_FIRST
        failed_before = ""
        metadata = (("authorization", f"Bearer {self._credential}"),)
        while True:
            request = auth_pb2.WatchRevocationsRequest(resume_after=self._revocations.sequence)
            call = self._stub.WatchRevocations(request, metadata=metadata)
            reason = "the stream ended"
            try:
                async for event in call:
                    self._revocations.apply(event)
                    self._last_heard = time.monotonic()
                    if self._revocations.synced:
                        self._synced.set()
                    if self.state_of_stream != "connected":
                        resumed = event.WhichOneof("event") == "snapshot" and event.snapshot.resumed
                        how = "resumed" if resumed else "from a snapshot"
                        self._become("connected", f"{how}, at sequence {event.sequence}")
                    wait, failed_before = _RETRY_FIRST, ""
            except grpc.aio.AioRpcError as error:
                reason = f"{error.code().name}: {error.details()}"
            except Exception as error:  # a bug here must not end the stream for good: say, retry
                _log.exception("revocation stream from %s failed", self.target)
                reason = f"unexpected {type(error).__name__}"
            if self.state_of_stream == "connected":
                self._become("disconnected", f"{reason}; answers stay local for {self._max_staleness:g} s")
            elif reason != failed_before:  # never opened, or failing anew: say why, once
                _log.warning("revocation stream from %s could not open: %s", self.target, reason)
            failed_before = reason
            await asyncio.sleep(wait)
            wait = min(wait * 2, _RETRY_MAX)

    def _become(self, state: State, why: str) -> None:
        self.state_of_stream = state
        log = _log.warning if state in ("disconnected", "stale") else _log.info
        log("revocation stream from %s %s: %s", self.target, state, why)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


_VERIFIERS: weakref.WeakSet[LocalVerifier] = weakref.WeakSet()


class _StreamMetrics(Collector):
    """The state and lag of every local verifier in this process, read when scraped."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "authsvc_client_revocation_stream_up",
            "1 while the revocation stream delivers, 0 while it is down or stale.",
            labels=["target"],
        )
        lag = GaugeMetricFamily(
            "authsvc_client_revocation_stream_lag_seconds",
            "Seconds since the revocation stream's last message (answers are exact as of then).",
            labels=["target"],
        )
        sequence = GaugeMetricFamily(
            "authsvc_client_revocation_stream_sequence",
            "The last revocation sequence applied.",
            labels=["target"],
        )
        for verifier in list(_VERIFIERS):
            up.add_metric([verifier.target], 1.0 if verifier.state_of_stream == "connected" else 0.0)
            seconds = verifier.lag()
            if seconds is not None:
                lag.add_metric([verifier.target], seconds)
            sequence.add_metric([verifier.target], float(verifier.sequence))
        yield from (up, lag, sequence)


REGISTRY.register(_StreamMetrics())
