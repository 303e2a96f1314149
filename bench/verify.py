"""One real call per scenario, since h2load only sees HTTP 200: does it get the gRPC status we expect?"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import aiohttp
import grpc
from google.protobuf.message import Message

from authsvc.v1 import auth_pb2_grpc


async def grpc_status(port: int, method: str, requests: Sequence[Message]) -> str:
    """The status names the requests got, e.g. "OK" or "UNAUTHENTICATED" (joined when they differ)."""
    seen: list[str] = []
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)  # type: ignore[no-untyped-call]
        call: Any = getattr(stub, method)
        for request in requests:
            try:
                await call(request, timeout=10)
            except grpc.aio.AioRpcError as error:
                seen.append(error.code().name)
            else:
                seen.append("OK")
    return "/".join(dict.fromkeys(seen))


async def http_status(url: str, token: str) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers={"Authorization": f"Bearer {token}"}) as reply,
    ):
        await reply.read()
        return f"HTTP {reply.status}"


async def http_statuses(url: str, tokens: list[str], in_flight: int = 32) -> None:
    """Sends each token once (to warm a server), `in_flight` at a time."""
    queue = iter(tokens)
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            for token in queue:
                async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as reply:
                    await reply.read()

        await asyncio.gather(*(worker() for _ in range(in_flight)))
