"""Real `authsvc serve` processes, two at a time, on the test database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import grpc
import pytest

from authsvc.v1 import auth_pb2_grpc
from tests.conftest import TEST_SECRET
from tests.support.addresses import TEST_PROXY_TOKEN
from tests.support.processes import ServeProcess, clean_env, start_serve

Pair = tuple[auth_pb2_grpc.AuthServiceStub, auth_pb2_grpc.AuthServiceStub, ServeProcess]
PairFactory = Callable[..., Awaitable[Pair]]


@pytest.fixture
async def start_replicas(database_url: str) -> AsyncIterator[PairFactory]:
    """Starts two `authsvc serve` processes on the test database; returns stubs A, B and B's process."""
    async with AsyncExitStack() as stack:

        async def start(**env: str) -> Pair:
            settings = clean_env(
                AUTHSVC_DATABASE_URL=database_url,
                AUTHSVC_JWT_SECRET=TEST_SECRET.hex(),
                AUTHSVC_GRPC_ADDRESS="127.0.0.1:0",
                AUTHSVC_BCRYPT_COST="10",
                AUTHSVC_SHUTDOWN_GRACE_SECONDS="2",
                AUTHSVC_PROXY_TOKENS=TEST_PROXY_TOKEN,
                **env,
            )
            processes = await asyncio.gather(start_serve(settings), start_serve(settings))
            stubs = []
            for process in processes:
                stack.push_async_callback(process.stop)
                channel = grpc.aio.insecure_channel(f"127.0.0.1:{process.port}")
                stack.push_async_callback(channel.close)
                stubs.append(auth_pb2_grpc.AuthServiceStub(channel))
            return stubs[0], stubs[1], processes[1]

        yield start
