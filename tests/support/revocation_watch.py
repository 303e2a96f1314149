"""One WatchRevocations stream, read event by event, for tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from authsvc.v1 import auth_pb2, auth_pb2_grpc
from tests.support.grpc_client import bearer


class Watch:
    def __init__(self, stub: auth_pb2_grpc.AuthServiceStub, credential: str, resume_after: int = 0) -> None:
        request = auth_pb2.WatchRevocationsRequest(resume_after=resume_after)
        self.call = stub.WatchRevocations(request, metadata=bearer(credential))
        self._events: AsyncIterator[auth_pb2.RevocationEvent] = self.call.__aiter__()

    async def next(self, within: float = 2.0) -> auth_pb2.RevocationEvent:
        async with asyncio.timeout(within):
            return await self._events.__anext__()

    async def next_of(self, kind: str, within: float = 2.0) -> auth_pb2.RevocationEvent:
        """The next event of `kind` ("revocation", "keys", "heartbeat"), skipping the others."""
        async with asyncio.timeout(within):
            while True:
                event = await self._events.__anext__()
                if event.WhichOneof("event") == kind:
                    return event

    async def next_revocation(self, within: float = 2.0) -> auth_pb2.RevocationEvent:
        return await self.next_of("revocation", within)

    def close(self) -> None:
        self.call.cancel()
