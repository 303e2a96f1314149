"""Token checks sent to AuthService together, as ValidateTokens calls: what AuthClient.validate
and the REST facade's /me and /verify use.

One gRPC call costs both processes far more than checking one token does, so the checks of the
requests being served at the same moment share a call. No check waits on a timer: the first one
leaves on the event loop's next turn; while `max_in_flight` calls are already out, the checks that
arrive meanwhile leave as soon as one returns. Batches therefore grow only under load, and a lone
request is answered as fast as with its own ValidateToken call.

Each request gets exactly what ValidateToken would have told it: its principal, or its refusal
(raised as `AuthClientError`, with the status ValidateToken would have failed with), or, when the call
itself fails (AuthService down, deadline...), that call's error. Whatever happens upstream, a
check waits at most `timeout` from its arrival (then DEADLINE_EXCEEDED, as a call of its own
would: 504 at the facade), at most `max_waiting` checks queue (beyond, UNAVAILABLE at once: 503),
and a call carries at most `max_batch` checks and `max_bytes` of them, well under gRPC's 4 MiB
message limit, so one client's oversized headers cannot make a batch, and the requests of
others in it, fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import grpc
from google.rpc import error_details_pb2

from authsvc.client.errors import AuthClientError
from authsvc.v1 import auth_pb2

_CODES = {code.value[0]: code for code in grpc.StatusCode}
# A check: its request, its answer, its size, and when its wait runs out (loop time).
_Waiting = tuple[auth_pb2.ValidateTokenRequest, "asyncio.Future[auth_pb2.TokenVerdict]", int, float]
_TIMED_OUT = "Upstream timeout"


class TokenChecks:
    def __init__(
        self,
        stub: Any,
        timeout: float,
        max_batch: int = 256,
        max_in_flight: int = 2,
        max_waiting: int = 4096,
        max_bytes: int = 1 << 20,
    ) -> None:
        self._stub = stub  # authsvc.v1.AuthServiceStub
        self._timeout = timeout
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._max_waiting = max_waiting
        self._max_bytes = max_bytes
        self._waiting: list[_Waiting] = []
        self._in_flight = 0
        self._send_scheduled = False
        self._calls: set[asyncio.Task[None]] = set()

    async def check(self, token: str, required_permissions: Sequence[str] = ()) -> auth_pb2.Principal:
        """The principal behind `token`, which holds every one of `required_permissions`."""
        return (await self._verdict(token, required_permissions, 0)).principal

    async def charge(
        self, token: str, required_permissions: Sequence[str], cost: int
    ) -> tuple[auth_pb2.Principal, list[auth_pb2.RateLimitState]]:
        """`check`, charging `cost` requests to the credential's limits: the principal and where
        each limit stands; over a limit, AuthClientError RESOURCE_EXHAUSTED with the wait."""
        verdict = await self._verdict(token, required_permissions, cost)
        return verdict.principal, list(verdict.rate_limits)

    async def _verdict(
        self, token: str, required_permissions: Sequence[str], cost: int
    ) -> auth_pb2.TokenVerdict:
        if len(self._waiting) >= self._max_waiting:
            raise AuthClientError(grpc.StatusCode.UNAVAILABLE, "Too many checks waiting")
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[auth_pb2.TokenVerdict] = loop.create_future()
        request = auth_pb2.ValidateTokenRequest(
            token=token, required_permissions=required_permissions, cost=cost
        )
        # No timer per check: a call's deadline is its oldest check's, and a check whose time ran
        # out while it queued is refused when its turn comes, which is no later than that (a call
        # ahead of it ends by its own oldest check's deadline, older than this one's).
        self._waiting.append((request, answer, request.ByteSize(), loop.time() + self._timeout))
        if not self._send_scheduled and self._in_flight < self._max_in_flight:
            self._send_scheduled = True
            loop.call_soon(self._send)
        return await answer

    def _send(self) -> None:
        self._send_scheduled = False
        while self._waiting and self._in_flight < self._max_in_flight:
            batch = self._next_batch()
            if not batch:
                continue
            self._in_flight += 1
            call = asyncio.get_running_loop().create_task(self._call(batch))
            self._calls.add(call)
            call.add_done_callback(self._calls.discard)

    def _next_batch(self) -> list[_Waiting]:
        """The oldest waiting checks that fit one call. Those whose request gave up are dropped,
        those whose time ran out get their 504."""
        taken, size, now = 0, 0, asyncio.get_running_loop().time()
        batch: list[_Waiting] = []
        for waiting in self._waiting:
            answer, nbytes, deadline = waiting[1:]
            if len(batch) == self._max_batch or (batch and size + nbytes > self._max_bytes):
                break
            taken += 1
            if answer.done():
                continue
            if deadline <= now:
                answer.set_exception(AuthClientError(grpc.StatusCode.DEADLINE_EXCEEDED, _TIMED_OUT))
                continue
            batch.append(waiting)
            size += nbytes
        del self._waiting[:taken]
        return batch

    async def _call(self, batch: list[_Waiting]) -> None:
        try:
            message = auth_pb2.ValidateTokensRequest(checks=[waiting[0] for waiting in batch])
            reply = await self._stub.ValidateTokens(message, timeout=_time_left(batch[0][3]))
            if len(reply.verdicts) != len(batch):
                raise AuthClientError(
                    grpc.StatusCode.INTERNAL, "AuthService answered a different number of checks"
                )
            for (_, answer, _, _), verdict in zip(batch, reply.verdicts, strict=True):
                if answer.done():  # its request was cancelled meanwhile
                    continue
                if verdict.HasField("principal"):
                    answer.set_result(verdict)
                else:
                    answer.set_exception(_refusal(verdict))
        except asyncio.CancelledError:  # the facade is stopping
            for waiting in batch:
                waiting[1].cancel()
            raise
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.UNIMPLEMENTED:
                _fail(batch, error)
            else:  # an AuthService from before ValidateTokens: one ValidateToken call per check
                await asyncio.gather(*(self._alone(*waiting) for waiting in batch))
        except Exception as error:  # the call failed: every one of its checks fails with it
            _fail(batch, error)
        finally:
            self._in_flight -= 1
            if self._waiting and not self._send_scheduled:
                self._send_scheduled = True
                asyncio.get_running_loop().call_soon(self._send)

    async def _alone(
        self,
        request: auth_pb2.ValidateTokenRequest,
        answer: asyncio.Future[auth_pb2.TokenVerdict],
        nbytes: int,
        deadline: float,
    ) -> None:
        try:
            reply = await self._stub.ValidateToken(request, timeout=_time_left(deadline))
        except Exception as error:
            if not answer.done():
                answer.set_exception(error)
        else:
            if not answer.done():
                answer.set_result(
                    auth_pb2.TokenVerdict(principal=reply.principal, rate_limits=reply.rate_limits)
                )


def _refusal(verdict: auth_pb2.TokenVerdict) -> AuthClientError:
    """A check's refusal as the error ValidateToken would have raised, with RetryInfo's wait."""
    code = _CODES.get(verdict.refusal.code, grpc.StatusCode.UNKNOWN)
    retry_after = None
    for detail in verdict.refusal.details:
        info = error_details_pb2.RetryInfo()
        if detail.Is(info.DESCRIPTOR) and detail.Unpack(info):
            retry_after = max(0, info.retry_delay.seconds)
    return AuthClientError(code, verdict.refusal.message, retry_after, verdict.rate_limits)


def _fail(batch: list[_Waiting], error: Exception) -> None:
    for waiting in batch:
        if not waiting[1].done():
            waiting[1].set_exception(error)


def _time_left(deadline: float) -> float:
    return max(deadline - asyncio.get_running_loop().time(), 0.001)
