"""Small helpers for calling AuthService over a real channel."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import grpc
import pytest


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
