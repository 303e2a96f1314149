"""/me and /verify under concurrency: their checks share ValidateTokens calls, and every request still
gets its own answer."""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY

from tests.conftest import AccountFactory
from tests.facade.client import Facade
from tests.facade.conftest import FacadeFactory
from tests.facade.scripted import Script, Scripted


def _calls(method: str) -> float:
    labels = {"grpc_type": "unary", "grpc_service": "authsvc.v1.AuthService", "grpc_method": method}
    return sum(
        REGISTRY.get_sample_value("grpc_server_handled_total", {**labels, "grpc_code": code}) or 0.0
        for code in ("OK", "INVALID_ARGUMENT", "UNAUTHENTICATED", "PERMISSION_DENIED", "INTERNAL")
    )


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
    before = _calls("ValidateTokens"), _calls("ValidateToken")

    replies = await asyncio.gather(*(facade.call("GET", path, token=token) for path, token, _, _ in asked))

    for (path, _, status, expected), reply in zip(asked, replies, strict=True):
        assert reply.status == status, (path, reply.status, reply.raw)
        if status == 200:
            assert reply.json["user_id"] == expected
        elif status == 204:
            assert reply.headers["X-Auth-User"] == expected
        else:
            assert reply.json == {"detail": expected}
    batches = _calls("ValidateTokens") - before[0]
    assert 1 <= batches < len(asked) / 4, batches
    assert _calls("ValidateToken") == before[1]


async def test_a_failed_call_fails_every_request_it_carried(
    start_facade: FacadeFactory, scripted: Scripted
) -> None:
    facade = await start_facade(scripted.target)
    scripted.servicer.script = Script(delay=0.2)
    first = asyncio.gather(*(facade.call("GET", "/api/v1/auth/me", token="t") for _ in range(5)))
    await asyncio.sleep(0.1)  # those five are in flight: the next ones wait for a call of their own
    scripted.servicer.script = Script(delay=0.2, crash=True)
    second = await asyncio.gather(*(facade.call("GET", "/api/v1/auth/me", token="t") for _ in range(5)))

    assert [r.status for r in await first] == [200] * 5
    assert [(r.status, r.json) for r in second] == [(500, {"detail": "Internal server error"})] * 5
