"""/me and /verify under concurrency: their checks share ValidateTokens calls, and every request still
gets its own answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from authsvc.client.batching import TokenChecks
from authsvc.client.errors import AuthClientError
from authsvc.v1 import auth_pb2_grpc
from tests.conftest import AccountFactory
from tests.facade.client import Facade
from tests.facade.conftest import FacadeFactory
from tests.facade.scripted import Script, Scripted, ScriptedAuthService, serving
from tests.support.metrics import calls_handled


async def test_concurrent_requests_share_calls_and_each_gets_its_own_answer(
    facade: Facade, make_account: AccountFactory
) -> None:
    viewer, admin = await make_account("viewer"), await make_account("admin")
    viewer_token = (await facade.login(viewer.email, viewer.password))["access_token"]
    admin_token = (await facade.login(admin.email, admin.password))["access_token"]
    asked = [
        ("/api/v1/auth/me", viewer_token, 200, viewer.user_id),
        ("/api/v1/auth/me", admin_token, 200, admin.user_id),
        ("/api/v1/auth/me", "not-a-token", 401, "Invalid or expired token"),
        ("/api/v1/auth/verify?permissions=geofences:write", viewer_token, 403, "Insufficient permissions"),
        ("/api/v1/auth/verify?permissions=geofences:write", admin_token, 204, admin.user_id),
    ] * 40
    before = calls_handled("ValidateTokens"), calls_handled("ValidateToken")

    replies = await asyncio.gather(*(facade.call("GET", path, token=token) for path, token, _, _ in asked))

    for (path, _, status, expected), reply in zip(asked, replies, strict=True):
        assert reply.status == status, (path, reply.status, reply.raw)
        if status == 200:
            assert reply.json["user_id"] == expected
        elif status == 204:
            assert reply.headers["X-Auth-User"] == expected
        else:
            assert reply.json == {"detail": expected}
    batches = calls_handled("ValidateTokens") - before[0]
    assert 1 <= batches < len(asked) / 4, batches
    assert calls_handled("ValidateToken") == before[1]


async def test_a_failed_call_fails_every_request_it_carried(
    start_facade: FacadeFactory, scripted: Scripted
) -> None:
    facade = await start_facade(scripted.target)
    scripted.servicer.script = Script(crash=True)
    failed = await asyncio.gather(*(facade.call("GET", "/api/v1/auth/me", token=f"t{i}") for i in range(5)))
    assert [(r.status, r.json) for r in failed] == [(500, {"detail": "Internal server error"})] * 5
    assert max(len(batch) for batch in scripted.servicer.batches) > 1  # one call carried several

    scripted.servicer.script = Script()
    answered = await asyncio.gather(*(facade.call("GET", "/api/v1/auth/me", token=f"t{i}") for i in range(5)))
    assert [r.status for r in answered] == [200] * 5


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0.01)


async def test_a_request_waits_at_most_the_call_timeout_even_behind_stuck_calls(
    start_facade: FacadeFactory, scripted: Scripted
) -> None:
    """Two calls are out and stuck: a third request, queued behind them, still gets its 504 when
    its own timeout is up, not after theirs plus its own."""
    facade = await start_facade(scripted.target, call_timeout_seconds=0.5)
    scripted.servicer.script = Script(delay=3.0)
    first = asyncio.ensure_future(facade.call("GET", "/api/v1/auth/me", token="first"))
    await _until(lambda: len(scripted.servicer.batches) == 1)
    second = asyncio.ensure_future(facade.call("GET", "/api/v1/auth/me", token="second"))
    await _until(lambda: len(scripted.servicer.batches) == 2)

    started = time.monotonic()
    third = await facade.call("GET", "/api/v1/auth/me", token="third")
    waited = time.monotonic() - started

    assert (third.status, third.json) == (504, {"detail": "Upstream timeout"})
    assert waited < 0.9, waited  # its own 0.5 s; queued behind the others' it would be 1 s or more
    assert [(await first).status, (await second).status] == [504, 504]


async def test_checks_queue_up_to_a_limit_and_calls_stay_small(scripted: Scripted) -> None:
    async with grpc.aio.insecure_channel(scripted.target) as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        scripted.servicer.script = Script(delay=0.3)
        checks = TokenChecks(stub, timeout=5, max_in_flight=1, max_waiting=2)
        out = asyncio.ensure_future(checks.check("out"))
        await _until(lambda: len(scripted.servicer.batches) == 1)
        queued = [asyncio.ensure_future(checks.check(f"queued-{i}")) for i in range(2)]
        await asyncio.sleep(0)
        with pytest.raises(AuthClientError) as refused:
            await checks.check("one too many")
        assert refused.value.code == grpc.StatusCode.UNAVAILABLE
        assert all(p.user_id == "u" for p in await asyncio.gather(out, *queued))
        assert scripted.servicer.batches == [["out"], ["queued-0", "queued-1"]]

        # A call carries at most max_batch checks, and at most max_bytes of them.
        scripted.servicer.batches.clear()
        scripted.servicer.script = Script()
        few = TokenChecks(stub, timeout=5, max_batch=3)
        await asyncio.gather(*(few.check(f"few-{i}") for i in range(7)))
        assert [len(batch) for batch in scripted.servicer.batches] == [3, 3, 1]
        scripted.servicer.batches.clear()
        scripted.servicer.script = Script()
        small = TokenChecks(stub, timeout=5, max_bytes=2500)
        tokens = [f"{i}" * 1000 for i in range(5)]
        await asyncio.gather(*(small.check(token) for token in tokens))
        assert [len(batch) for batch in scripted.servicer.batches] == [2, 2, 1]
        assert [t for batch in scripted.servicer.batches for t in batch] == tokens


async def test_a_request_that_gave_up_is_not_sent(scripted: Scripted) -> None:
    async with grpc.aio.insecure_channel(scripted.target) as channel:
        checks = TokenChecks(auth_pb2_grpc.AuthServiceStub(channel), timeout=5, max_in_flight=1)
        scripted.servicer.script = Script(delay=0.3)
        out = asyncio.ensure_future(checks.check("out"))
        await _until(lambda: len(scripted.servicer.batches) == 1)
        gave_up = asyncio.ensure_future(checks.check("gave-up"))
        kept = asyncio.ensure_future(checks.check("kept"))
        await asyncio.sleep(0)
        gave_up.cancel()
        await asyncio.gather(out, kept)
        assert scripted.servicer.batches == [["out"], ["kept"]]


class _OlderAuthService(ScriptedAuthService):
    """An AuthService from before ValidateTokens."""

    ValidateTokens = auth_pb2_grpc.AuthServiceServicer.ValidateTokens


async def test_an_older_authservice_gets_one_validate_token_call_per_check() -> None:
    servicer = _OlderAuthService()
    async with serving(servicer) as older, grpc.aio.insecure_channel(older.target) as channel:
        checks = TokenChecks(auth_pb2_grpc.AuthServiceStub(channel), timeout=5)
        found = await asyncio.gather(*(checks.check(f"t{i}") for i in range(3)))
        assert [p.user_id for p in found] == ["u"] * 3
        assert len(servicer.seen) == 3 and servicer.batches == []  # three ValidateToken calls

        servicer.script = Script(grpc.StatusCode.UNAUTHENTICATED, "Invalid or expired token")
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await checks.check("bad")
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


class _MiscountingAuthService(ScriptedAuthService):
    async def ValidateTokens(self, request: Any, context: Any) -> Any:
        reply = await super().ValidateTokens(request, context)
        del reply.verdicts[-1]
        return reply


async def test_a_reply_with_the_wrong_number_of_verdicts_fails_every_check_it_answered() -> None:
    async with serving(_MiscountingAuthService()) as miscounting:
        async with grpc.aio.insecure_channel(miscounting.target) as channel:
            checks = TokenChecks(auth_pb2_grpc.AuthServiceStub(channel), timeout=5)
            outcomes = await asyncio.gather(
                *(checks.check(f"t{i}") for i in range(3)), return_exceptions=True
            )
    assert all(isinstance(o, AuthClientError) and o.code == grpc.StatusCode.INTERNAL for o in outcomes), (
        outcomes
    )
