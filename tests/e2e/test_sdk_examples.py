"""The service examples in docs/sdk.md, run as the files they are (`python examples/...`) against a
real AuthService, and called over real sockets as their callers would."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import grpc
import pytest

from tests.conftest import AccountFactory, Running
from tests.integration.test_client_sdk import _key
from tests.support.addresses import free_port
from tests.support.grpc_client import bearer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


@asynccontextmanager
async def running_example(name: str, authsvc_port: int) -> AsyncIterator[int]:
    """Starts examples/<name> as a process and yields its port once it accepts connections."""
    port = free_port()
    env = {**os.environ, "AUTHSVC_TARGET": f"127.0.0.1:{authsvc_port}", "PORT": str(port)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLES / name), env=env, cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        async with asyncio.timeout(30):
            while True:
                if process.returncode is not None:
                    assert process.stderr is not None
                    raise RuntimeError(f"{name} exited: {(await process.stderr.read()).decode()[-2000:]}")
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.05)
                    continue
                writer.close()
                break
        yield port
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), 30)


@pytest.fixture
async def keys(authsvc: Running, make_account: AccountFactory) -> tuple[str, str, str]:
    return (
        await _key(authsvc, make_account, ["geofences:read"]),
        await _key(authsvc, make_account, ["geofences:read", "geofences:write"]),
        await _key(authsvc, make_account, ["webhooks:read"]),
    )


@pytest.mark.parametrize("example", ["aiohttp_service.py", "fastapi_service.py"])
async def test_the_http_service_examples_run_and_enforce_their_permissions(
    example: str, authsvc: Running, keys: tuple[str, str, str]
) -> None:
    reader, writer, other = keys
    async with (
        running_example(example, authsvc.port) as port,
        aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http,
    ):

        async def status(method: str, path: str, key: str | None) -> int:
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            async with http.request(method, path, headers=headers) as reply:
                if reply.status >= 400:
                    body = await reply.json()
                    assert set(body) == {"detail"}, body  # the documented error shape, always JSON
                return reply.status

        assert await status("GET", "/healthz", None) == 200
        async with http.get("/whoami", headers={"Authorization": f"Bearer {other}"}) as who:
            assert who.status == 200 and (await who.json())["kind"] == "api_key"
        assert await status("GET", "/whoami", None) == 401
        assert await status("GET", "/geofences", reader) == 200
        assert await status("GET", "/geofences", other) == 403
        assert await status("POST", "/geofences", reader) == 403
        assert await status("POST", "/geofences", writer) == 201


async def test_the_grpc_service_example_runs_and_enforces_its_permissions(
    authsvc: Running, keys: tuple[str, str, str]
) -> None:
    reader, writer, other = keys
    async with (
        running_example("grpc_service.py", authsvc.port) as port,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        listing = channel.unary_unary("/geofences.v1.Geofences/ListGeofences")
        create = channel.unary_unary("/geofences.v1.Geofences/CreateGeofence")
        watch = channel.unary_stream("/geofences.v1.Geofences/WatchGeofences")
        assert "workspace_id" in json.loads(await listing(b"{}", metadata=bearer(reader)))
        assert json.loads(await create(b"{}", metadata=bearer(writer))) == {"created": True}
        assert len([event async for event in watch(b"{}", metadata=bearer(reader))]) == 3
        for call, code in (
            (listing(b"{}"), grpc.StatusCode.UNAUTHENTICATED),
            (listing(b"{}", metadata=bearer(other)), grpc.StatusCode.PERMISSION_DENIED),
            (create(b"{}", metadata=bearer(reader)), grpc.StatusCode.PERMISSION_DENIED),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call
            assert refused.value.code() == code
        with pytest.raises(grpc.aio.AioRpcError) as streamed:
            async for _ in watch(b"{}", metadata=bearer(other)):
                pass
        assert streamed.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_the_docs_show_the_example_files_as_they_are() -> None:
    """What service authors copy from docs/sdk.md is what the tests above run."""
    docs = (ROOT / "docs" / "sdk.md").read_text()
    for example in sorted(EXAMPLES.glob("*.py")):
        assert f"```python\n{example.read_text()}```" in docs, f"{example.name} differs from docs/sdk.md"
