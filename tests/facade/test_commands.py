"""The facade's commands as real processes: `http-facade serve` drains in-flight requests on
SIGTERM; `make run`'s supervisor starts both services, serves the public curl flow on the REST port,
and stops both together (on SIGTERM, or when one of them dies)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import grpc
import pytest

from authsvc.v1 import auth_pb2, auth_pb2_grpc
from tests.facade.client import Facade
from tests.facade.scripted import Script, Scripted
from tests.support.addresses import free_port
from tests.support.processes import clean_env


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def data_dir() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="authsvc-run-"))  # short: PostgreSQL's socket lives in it
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


async def _spawn(module: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *(["serve"] if module == "http_facade" else []),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip


async def _lines_until(process: asyncio.subprocess.Process, *patterns: str) -> list[str]:
    """Output lines until every pattern has matched one."""
    assert process.stdout is not None
    lines: list[str] = []
    async with asyncio.timeout(90):
        while not all(any(re.search(p, line) for line in lines) for p in patterns):
            raw = await process.stdout.readline()
            if not raw:
                raise AssertionError(f"exited early: {lines}")
            lines.append(raw.decode().rstrip())
    return lines


async def _ready(facade: Facade) -> None:
    """Waits for /readyz: the facade may have tried AuthService before it listened, and retries."""
    async with asyncio.timeout(10):
        while (await facade.call("GET", "/readyz")).status != 200:
            await asyncio.sleep(0.1)


async def test_serve_finishes_in_flight_requests_on_sigterm(
    scripted: Scripted, http: aiohttp.ClientSession
) -> None:
    http_port = free_port()
    env = clean_env(HTTP_FACADE_PORT=str(http_port), HTTP_FACADE_AUTHSVC_TARGET=scripted.target)
    process = await _spawn("http_facade", env)
    try:
        await _lines_until(process, f"http-facade listening on http://127.0.0.1:{http_port}")
        facade = Facade(f"http://127.0.0.1:{http_port}", http)
        scripted.servicer.script = Script(delay=1.0)
        in_flight = asyncio.create_task(
            facade.call(
                "GET",
                "/api/v1/api-keys?access_token=secret-in-query",
                token="t",
                headers={"X-Request-ID": "drain-1"},
            )
        )
        while not scripted.servicer.seen:  # the call has reached AuthService
            await asyncio.sleep(0.01)
        process.send_signal(signal.SIGTERM)
        reply = await in_flight
        assert reply.status == 200 and reply.json == {"api_keys": [], "next_page_token": ""}
        output, _ = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0 and not _listening(http_port)
    logged = [json.loads(line) for line in output.decode().splitlines() if line.startswith("{")]
    access = [entry for entry in logged if entry["logger"] == "aiohttp.access"]
    assert "GET /api/v1/api-keys HTTP/1.1" in access[-1]["msg"] and "request_id=drain-1" in access[-1]["msg"]
    assert b"secret-in-query" not in output  # the query string is never logged


async def test_a_bad_setting_refuses_to_start() -> None:
    process = await _spawn("http_facade", clean_env(HTTP_FACADE_TRUSTED_PROXIES="everyone"))
    output, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2 and b"HTTP_FACADE_TRUSTED_PROXIES" in output


async def test_both_services_serve_the_curl_flow_and_stop_together(
    data_dir: Path, http: aiohttp.ClientSession
) -> None:
    grpc_port, http_port = free_port(), free_port()
    env = clean_env(
        AUTHSVC_DATA_DIR=str(data_dir),
        AUTHSVC_GRPC_ADDRESS=f"127.0.0.1:{grpc_port}",
        AUTHSVC_BCRYPT_COST="10",
        HTTP_FACADE_PORT=str(http_port),
        HTTP_FACADE_TRUSTED_PROXIES="127.0.0.1",  # the test client stands for a load balancer
    )
    process = await _spawn("http_facade.devrun", env)
    try:
        lines = await _lines_until(process, "authsvc listening", "http-facade listening", "first admin")
        email, password = re.findall(r"email=(\S+) password=(\S+)", "\n".join(lines))[0]
        facade = Facade(f"http://127.0.0.1:{http_port}", http)
        await _ready(facade)
        token = (await facade.login(email, password))["access_token"]
        me = await facade.call("GET", "/api/v1/auth/me", token=token)
        assert me.status == 200 and me.json["kind"] == "user"
        # The facade proves itself to AuthService (a token made for this run), so the clients it
        # names are counted apart at the documented 5 logins a minute per IP...
        body = {"email": email, "password": password}
        for n in range(6):
            client = {"X-Forwarded-For": f"203.0.113.{n + 1}"}
            assert (
                await facade.call("POST", "/api/v1/auth/login", json_body=body, headers=client)
            ).status == 200
        # ...while another local process naming clients straight to AuthService is just 127.0.0.1.
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            stub = auth_pb2_grpc.AuthServiceStub(channel)
            codes = []
            for n in range(6):
                request = auth_pb2.LoginRequest(email=email, password="wrong password")
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await stub.Login(request, metadata=(("x-forwarded-for", f"198.51.100.{n + 1}"),))
                codes.append(refused.value.code())
        assert codes[-1] == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 60)
    assert code == 0
    assert not _listening(grpc_port) and not _listening(http_port)


async def test_when_one_service_dies_the_other_is_stopped(data_dir: Path) -> None:
    http_port = free_port()
    # A configured database without its secret: AuthService refuses to start (exit status 2).
    env = clean_env(
        AUTHSVC_DATABASE_URL="postgresql://postgres@127.0.0.1:1/none",
        HTTP_FACADE_PORT=str(http_port),
    )
    process = await _spawn("http_facade.devrun", env)
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2, output
    assert b"AUTHSVC_JWT_SECRET" in output
    assert b"devrun: authsvc exited with status 2; stopping the other service" in output
    assert not _listening(http_port)
