"""Small helpers for calling AuthService over a real channel."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

import grpc
import pytest

from authsvc.v1 import auth_pb2


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def rpc_error(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    """Awaits a call that must fail and returns its error."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def status_of(call: Awaitable[Any]) -> grpc.StatusCode:
    """The status a call ends with: OK, or its error's code."""
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def refused_within(stub: Any, token: str, seconds: float) -> float:
    """How long until `stub` refuses `token`; fails if that takes more than `seconds`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            await stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=token), timeout=2)
        except grpc.aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise AssertionError(f"still accepted after {seconds} s")
