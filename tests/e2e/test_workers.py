"""`serve --workers N` (issue 17, item 5), as real processes: N workers share one port, each with
its own listener and revocation index, the supervisor's metrics add theirs up, a worker that dies
is replaced, and SIGTERM stops them all. For AuthService and for the facade."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
import tempfile
import uuid
from pathlib import Path

import aiohttp
import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from authsvc.v1 import auth_pb2, auth_pb2_grpc
from tests.conftest import TEST_SECRET
from tests.support.addresses import TEST_PROXY_TOKEN, free_port
from tests.support.grpc_client import bearer, refused_within, status_of
from tests.support.processes import ServeProcess, clean_env, start_serve

pytestmark = pytest.mark.timeout(180)

PASSWORD = "a long enough password"
READY = re.compile(r"worker (\d+) \(pid (\d+)\) ready; its own metrics at (http://\S+)")
CALLS = 40  # each on a connection of its own, which the kernel gives to either worker


def _workers(lines: list[str]) -> dict[int, tuple[int, str]]:
    """Worker number → (pid, own metrics URL), the latest line for each."""
    found = {}
    for line in lines:
        match = READY.search(line)
        if match:
            found[int(match.group(1))] = (int(match.group(2)), match.group(3))
    return found


async def _sample(http: aiohttp.ClientSession, url: str, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    async with http.get(url) as reply:
        assert reply.status == 200
        text = await reply.text()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _validate_on_new_connection(port: int, token: str) -> grpc.StatusCode:
    # A channel of its own subchannels: never a connection another channel left open.
    async with grpc.aio.insecure_channel(
        f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)]
    ) as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        return await status_of(stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=token), timeout=5))


async def test_authsvc_workers_share_a_port_add_up_their_metrics_and_stop_together(
    fresh_database_url: str,
) -> None:
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    env = clean_env(
        AUTHSVC_DATABASE_URL=fresh_database_url,
        AUTHSVC_JWT_SECRET=TEST_SECRET.hex(),
        AUTHSVC_GRPC_ADDRESS="127.0.0.1:0",
        AUTHSVC_BCRYPT_COST="10",
        AUTHSVC_SHUTDOWN_GRACE_SECONDS="1",
        AUTHSVC_PROXY_TOKENS=TEST_PROXY_TOKEN,
        AUTHSVC_BOOTSTRAP_ADMIN_EMAIL=email,
        AUTHSVC_BOOTSTRAP_ADMIN_PASSWORD=PASSWORD,
    )
    serving = await start_serve(env, 90, "--workers", "2")
    try:
        workers = _workers(list(serving.lines))
        assert sorted(workers) == [1, 2] and all(_alive(pid) for pid, _ in workers.values())
        assert "(2 workers)" in serving.lines[-1]
        async with aiohttp.ClientSession() as http:
            await _calls_are_spread_and_counted(serving, workers, http)
            await _revocations_reach_every_worker(serving.port, email, workers, http)
            await _a_killed_worker_is_replaced(serving, workers)
        pids = [pid for pid, _ in _workers(list(serving.lines)).values()]
    finally:
        code = await serving.stop()
    assert code == 0
    assert not any(_alive(pid) for pid in pids)  # stopped together with the supervisor


async def _calls_are_spread_and_counted(
    serving: ServeProcess, workers: dict[int, tuple[int, str]], http: aiohttp.ClientSession
) -> None:
    outcomes = [await _validate_on_new_connection(serving.port, "not-a-token") for _ in range(CALLS)]
    assert set(outcomes) == {grpc.StatusCode.UNAUTHENTICATED}
    labels = {"grpc_method": "ValidateToken", "grpc_code": "UNAUTHENTICATED"}
    each = [await _sample(http, url, "grpc_server_handled_total", **labels) for _, url in workers.values()]
    assert all(count > 0 for count in each) and sum(each) == CALLS  # both served; 2^-39 they did not
    assert await _sample(http, serving.metrics_url, "grpc_server_handled_total", **labels) == CALLS
    assert await _sample(http, serving.metrics_url, "authsvc_workers_scraped") == 2
    pools = await _sample(http, serving.metrics_url, "authsvc_db_pool_connections", state="max")
    assert pools == 2 * await _sample(http, workers[1][1], "authsvc_db_pool_connections", state="max")


async def _revocations_reach_every_worker(
    port: int, email: str, workers: dict[int, tuple[int, str]], http: aiohttp.ClientSession
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        pair = await stub.Login(auth_pb2.LoginRequest(email=email, password=PASSWORD))
        await stub.Logout(auth_pb2.LogoutRequest(), metadata=bearer(pair.access_token))
    labels = {"grpc_method": "ValidateToken", "grpc_code": "UNAUTHENTICATED"}
    urls = [url for _, url in workers.values()]
    before = [await _sample(http, url, "grpc_server_handled_total", **labels) for url in urls]
    refusals = [0.0] * len(before)
    async with asyncio.timeout(30):
        while not all(refusals):  # until each worker has refused the logged-out token at least once
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:  # a worker at random
                await refused_within(auth_pb2_grpc.AuthServiceStub(channel), pair.access_token, 1.0)
            after = [await _sample(http, url, "grpc_server_handled_total", **labels) for url in urls]
            refusals = [a - b for a, b in zip(after, before, strict=True)]


async def _a_killed_worker_is_replaced(serving: ServeProcess, workers: dict[int, tuple[int, str]]) -> None:
    killed = workers[1][0]
    os.kill(killed, signal.SIGKILL)
    at = asyncio.get_running_loop().time()
    async with asyncio.timeout(60):
        while _workers(list(serving.lines))[1][0] == killed:
            outcome = await _validate_on_new_connection(serving.port, "not-a-token")
            # A connection the kernel queued on the killed worker's socket is reset (UNAVAILABLE);
            # once it is gone, the other worker takes every new one.
            settled = asyncio.get_running_loop().time() - at > 2.0
            assert outcome == grpc.StatusCode.UNAUTHENTICATED or (
                outcome == grpc.StatusCode.UNAVAILABLE and not settled
            ), outcome
            await asyncio.sleep(0.1)
    replaced = _workers(list(serving.lines))
    assert replaced[2] == workers[2] and _alive(replaced[1][0])


async def test_facade_workers_share_a_port_and_every_one_answers_metrics_for_all(
    fresh_database_url: str,
) -> None:
    env = clean_env(
        AUTHSVC_DATABASE_URL=fresh_database_url,
        AUTHSVC_JWT_SECRET=TEST_SECRET.hex(),
        AUTHSVC_GRPC_ADDRESS="127.0.0.1:0",
        AUTHSVC_SHUTDOWN_GRACE_SECONDS="1",
    )
    authsvc = await start_serve(env)
    port = free_port()
    facade = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "http_facade", "serve", "--workers", "2",
        env=clean_env(
            HTTP_FACADE_PORT=str(port),
            HTTP_FACADE_AUTHSVC_TARGET=f"127.0.0.1:{authsvc.port}",
            HTTP_FACADE_SHUTDOWN_GRACE_SECONDS="1",
        ),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    lines: list[str] = []
    try:
        assert facade.stdout is not None
        async with asyncio.timeout(90):
            while not lines or "listening on" not in lines[-1]:
                raw = await facade.stdout.readline()
                assert raw, f"the facade exited: {lines}"
                lines.append(raw.decode().rstrip())
        assert f"listening on http://127.0.0.1:{port}" in lines[-1] and "2 workers" in lines[-1]
        workers = _workers(lines)
        assert sorted(workers) == [1, 2]
        base = f"http://127.0.0.1:{port}"
        connector = aiohttp.TCPConnector(force_close=True)  # a connection per request
        async with aiohttp.ClientSession(connector=connector) as http:
            for _ in range(CALLS):
                async with http.get(f"{base}/healthz") as reply:
                    assert reply.status == 200
            name, labels = "http_requests_total", {"route": "/healthz", "status": "200"}
            each = [await _sample(http, url, name, **labels) for _, url in workers.values()]
            assert all(count > 0 for count in each) and sum(each) == CALLS
            for _ in range(6):  # whichever worker answers /metrics, it counts both
                assert await _sample(http, f"{base}/metrics", name, **labels) == CALLS
        facade.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(facade.wait(), 30) == 0
        assert not any(_alive(pid) for pid, _ in workers.values())
    finally:
        if facade.returncode is None:
            facade.kill()
            await facade.wait()
        await authsvc.stop()


async def test_serve_workers_on_the_embedded_database_create_the_first_admin_once() -> None:
    with tempfile.TemporaryDirectory(prefix="authsvc-w-") as folder:  # short: the socket lives there
        env = {k: v for k, v in clean_env(AUTHSVC_DATA_DIR=folder).items() if k != "AUTHSVC_DATABASE_URL"}
        env.update(AUTHSVC_GRPC_ADDRESS="127.0.0.1:0", AUTHSVC_SHUTDOWN_GRACE_SECONDS="1")
        serving = await start_serve(env, 120, "--workers", "2")
        try:
            lines = list(serving.lines)
            assert sum("Created the first admin" in line for line in lines) == 1
            assert sorted(_workers(lines)) == [1, 2]
            admin = re.search(r"email=(\S+) password=(\S+)", "\n".join(lines))
            assert admin is not None
            async with grpc.aio.insecure_channel(f"127.0.0.1:{serving.port}") as channel:
                stub = auth_pb2_grpc.AuthServiceStub(channel)
                login = auth_pb2.LoginRequest(email=admin.group(1), password=admin.group(2))
                assert (await stub.Login(login)).access_token
        finally:
            assert await serving.stop() == 0
        assert not list(Path(folder, "pg").glob("postmaster.pid"))  # the last one out stopped it


async def test_workers_end_with_a_supervisor_killed_outright(fresh_database_url: str) -> None:
    env = clean_env(
        AUTHSVC_DATABASE_URL=fresh_database_url,
        AUTHSVC_JWT_SECRET=TEST_SECRET.hex(),
        AUTHSVC_GRPC_ADDRESS="127.0.0.1:0",
        AUTHSVC_SHUTDOWN_GRACE_SECONDS="1",
    )
    serving = await start_serve(env, 90, "--workers", "2")
    pids = [pid for pid, _ in _workers(list(serving.lines)).values()]
    serving.process.kill()  # SIGKILL: no chance to stop them itself
    await serving.process.wait()
    async with asyncio.timeout(15):  # they drain (1 s grace) and exit: no orphan keeps the port
        while any(_alive(pid) for pid in pids):
            await asyncio.sleep(0.1)
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", serving.port)) != 0


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (["--workers", "0"], {}, "must be a whole number from 1 to 256, or auto"),
        (["--workers", "many"], {}, "must be a whole number from 1 to 256, or auto"),
        ([], {"AUTHSVC_WORKERS": "-1"}, "AUTHSVC_WORKERS"),
    ],
)
async def test_a_bad_worker_count_is_refused_before_anything_starts(
    args: list[str], env: dict[str, str], said: str
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "authsvc", "serve", *args, env=clean_env(**env),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2 and said in err.decode() and not out


async def test_an_address_without_a_host_is_refused_with_a_message(database_url: str) -> None:
    env = clean_env(
        AUTHSVC_DATABASE_URL=database_url, AUTHSVC_JWT_SECRET=TEST_SECRET.hex(), AUTHSVC_GRPC_ADDRESS=":0"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "authsvc", "serve", "--workers", "2", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 60)
    said = err.decode()
    assert process.returncode == 1 and "names no host" in said and "Traceback" not in said
