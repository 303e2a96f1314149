"""Envoy external authorization on AuthService's port, called as Envoy calls it: the generated
`envoy.service.auth.v3.Authorization` stub over a real channel (no Envoy binary installs here).
Allowed checks hand on the forward-auth identity headers; refusals carry the facade's status,
JSON body and headers; malformed Authorization headers are denied 401, never a gRPC error."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from envoy.config.core.v3 import base_pb2
from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2, external_auth_pb2_grpc
from prometheus_client import REGISTRY

from authsvc.v1 import auth_pb2
from tests.conftest import AccountFactory, Running, ServerFactory
from tests.support.clock import FakeClock
from tests.support.grpc_client import bearer

HttpRequest = attribute_context_pb2.AttributeContext.HttpRequest

PLANS = """
default = "free"

[plans.free]
requests_per_minute = 1000
"""


@pytest.fixture
async def metered(start_authsvc: ServerFactory, tmp_path: Path) -> Running:
    plans = tmp_path / "plans.toml"
    plans.write_text(PLANS)
    clock = FakeClock()
    clock.advance(61 - clock.now().timestamp() % 60)  # one minute window for the whole test
    return await start_authsvc(clock, plans_file=plans)


@pytest.fixture
async def envoy(metered: Running) -> AsyncIterator[external_auth_pb2_grpc.AuthorizationStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{metered.port}") as channel:
        yield external_auth_pb2_grpc.AuthorizationStub(channel)


def _check(
    authorization: str | list[str] | None = None,
    *,
    raw: bool = False,
    **extensions: str,
) -> external_auth_pb2.CheckRequest:
    """What Envoy sends: the request's headers (as a map, or as `header_map` with each header,
    repeats included, when `raw`) and the route's context extensions."""
    values = [authorization] if isinstance(authorization, str) else authorization or []
    http = HttpRequest(method="GET", path="/geofences", host="api.example.com")
    if raw:
        http.header_map.headers.extend(
            base_pb2.HeaderValue(key="authorization", raw_value=v.encode()) for v in values
        )
        http.header_map.headers.add(key="x-auth-subject", raw_value=b"forged")
    else:
        if values:
            http.headers["authorization"] = ",".join(values)
        http.headers["x-auth-subject"] = "forged"
    attributes = attribute_context_pb2.AttributeContext(
        request=attribute_context_pb2.AttributeContext.Request(http=http),
        context_extensions=extensions,
    )
    return external_auth_pb2.CheckRequest(attributes=attributes)


def _denials_401() -> float:
    return REGISTRY.get_sample_value("authsvc_envoy_checks_total", {"status": "401"}) or 0.0


def _added(reply: external_auth_pb2.CheckResponse) -> dict[str, str]:
    return {option.header.key: option.header.value for option in reply.ok_response.headers}


def _denial(reply: external_auth_pb2.CheckResponse) -> tuple[int, dict[str, str], dict[str, object]]:
    denied = reply.denied_response
    headers = {option.header.key: option.header.value for option in denied.headers}
    assert headers["content-type"] == "application/json"
    return denied.status.code, headers, json.loads(denied.body)


async def _admin_token(running: Running, make_account: AccountFactory) -> tuple[str, str, str]:
    account = await make_account("admin")
    reply = await running.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    return reply.access_token, account.user_id, account.workspace_id


async def _key(running: Running, token: str, per_minute: int = 0) -> auth_pb2.CreateApiKeyResponse:
    request = auth_pb2.CreateApiKeyRequest(
        name="envoy gateway é",
        permissions=["geofences:read", "webhooks:read"],
        environment=auth_pb2.ENVIRONMENT_LIVE,
        rate_limit=auth_pb2.KeyRateLimit(requests_per_minute=per_minute),
    )
    return await running.stub.CreateApiKey(request, metadata=bearer(token))


async def test_an_allowed_check_hands_on_who_the_caller_is_and_strips_forgeries(
    metered: Running, envoy: external_auth_pb2_grpc.AuthorizationStub, make_account: AccountFactory
) -> None:
    token, user_id, workspace_id = await _admin_token(metered, make_account)
    key = await _key(metered, token)

    as_key = await envoy.Check(_check(f"Bearer {key.secret}", permissions="geofences:read"))
    assert as_key.status.code == grpc.StatusCode.OK.value[0] and as_key.HasField("ok_response")
    assert _added(as_key) == {
        "x-auth-subject": key.api_key.id,
        "x-auth-kind": "api_key",
        "x-auth-user": user_id,
        "x-auth-workspace": workspace_id,
        "x-auth-permissions": "geofences:read,webhooks:read",
        "x-auth-environment": "live",
        "x-auth-key-name": "envoy gateway %C3%A9",  # percent-encoded UTF-8, as forward auth
    }
    # They replace what the client sent under those names (x-auth-subject: forged).
    overwrite = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
    assert all(option.append_action == overwrite for option in as_key.ok_response.headers)
    assert list(as_key.ok_response.headers_to_remove) == []
    # Charged one request by default: the client's response shows where its limits stand.
    limits = {o.header.key: o.header.value for o in as_key.ok_response.response_headers_to_add}
    assert '"workspace-minute";r=999' in limits["ratelimit"] and "ratelimit-policy" in limits

    as_user = await envoy.Check(_check(f"bearer {token}", raw=True, cost="0"))  # the scheme's case is free
    added = _added(as_user)
    assert (added["x-auth-kind"], added["x-auth-subject"]) == ("user", user_id)
    # A user has no environment or key name: those headers are removed, so a client cannot forge them.
    assert set(as_user.ok_response.headers_to_remove) == {"x-auth-environment", "x-auth-key-name"}
    assert not as_user.ok_response.response_headers_to_add  # cost 0: only checked, nothing charged


async def test_refusals_carry_the_facades_status_body_and_challenge(
    metered: Running, envoy: external_auth_pb2_grpc.AuthorizationStub, make_account: AccountFactory
) -> None:
    token, _, _ = await _admin_token(metered, make_account)
    key = await _key(metered, token)

    status, headers, body = _denial(await envoy.Check(_check()))
    assert (status, body, headers["www-authenticate"]) == (401, {"detail": "Not authenticated"}, "Bearer")

    reply = await envoy.Check(_check("Bearer sf_live_not-a-key"))
    assert reply.status.code == grpc.StatusCode.UNAUTHENTICATED.value[0]
    status, headers, body = _denial(reply)
    assert (status, body) == (401, {"detail": "Invalid or expired token"})
    assert headers["www-authenticate"] == (
        'Bearer error="invalid_token", error_description="Invalid or expired token"'
    )
    assert not reply.HasField("ok_response")

    reply = await envoy.Check(_check(f"Bearer {key.secret}", permissions="geofences:read,webhooks:write"))
    assert reply.status.code == grpc.StatusCode.PERMISSION_DENIED.value[0]
    status, headers, body = _denial(reply)
    assert (status, body) == (403, {"detail": "Insufficient permissions"})
    assert headers["www-authenticate"].startswith('Bearer error="insufficient_scope"')

    await metered.stub.RevokeApiKey(auth_pb2.RevokeApiKeyRequest(id=key.api_key.id), metadata=bearer(token))
    status, _, body = _denial(await envoy.Check(_check(f"Bearer {key.secret}")))
    assert (status, body) == (401, {"detail": "Invalid or expired token"})

    status, _, body = _denial(await envoy.Check(_check(f"Bearer {token}", cost="lots")))  # a route's typo
    assert (status, body) == (400, {"detail": "cost must be a whole number from 0 to 1000"})


async def test_a_spent_limit_is_429_with_retry_after_and_the_limits(
    metered: Running, envoy: external_auth_pb2_grpc.AuthorizationStub, make_account: AccountFactory
) -> None:
    token, _, _ = await _admin_token(metered, make_account)
    key = await _key(metered, token, per_minute=3)
    for _ in range(3):
        assert (await envoy.Check(_check(f"Bearer {key.secret}"))).HasField("ok_response")
    reply = await envoy.Check(_check(f"Bearer {key.secret}"))
    assert reply.status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    status, headers, body = _denial(reply)
    assert (status, body) == (429, {"detail": "Rate limit exceeded"})
    assert 1 <= int(headers["retry-after"]) <= 60
    assert '"key-minute";r=0' in headers["ratelimit"]
    # The route may check without charging: the spent key still passes a cost-0 check.
    assert (await envoy.Check(_check(f"Bearer {key.secret}", cost="0"))).HasField("ok_response")


async def test_malformed_authorization_headers_are_denied_401_never_an_error(
    metered: Running, envoy: external_auth_pb2_grpc.AuthorizationStub, make_account: AccountFactory
) -> None:
    token, _, _ = await _admin_token(metered, make_account)
    before = _denials_401()
    cases = [
        _check([f"Bearer {token}", f"Bearer {token}"], raw=True),  # two headers
        _check([f"Bearer {token}", f"Bearer {token}"]),  # two, as Envoy joins them in the map
        _check("Bearer " + "a" * 9000),  # over 8 KiB
        _check("Bearer " + "a" * 9000, raw=True),
        _check("Basic dXNlcjpwYXNz"),  # another scheme: no Bearer credentials
        _check("Bearer "),
    ]
    request = _check(raw=True)
    request.attributes.request.http.header_map.headers.add(key="authorization", raw_value=b"Bearer \xff\xfe")
    cases.append(request)  # not UTF-8
    for case in cases:
        reply = await envoy.Check(case)  # the call succeeds: the answer is the denial
        status, headers, body = _denial(reply)
        assert status == 401 and body["detail"] in ("Not authenticated", "Invalid or expired token")
        assert headers["www-authenticate"].startswith("Bearer")
    assert _denials_401() == before + len(cases)  # counted in /metrics
    # And a good header still passes after all that.
    assert (await envoy.Check(_check(f"Bearer {token}"))).HasField("ok_response")


async def test_the_default_cost_is_configured_and_a_route_overrides_it(
    start_authsvc: ServerFactory, tmp_path: Path, make_account: AccountFactory
) -> None:
    plans = tmp_path / "plans.toml"
    plans.write_text(PLANS)
    running = await start_authsvc(FakeClock(), plans_file=plans, envoy_check_cost=0)  # only checks
    token, _, _ = await _admin_token(running, make_account)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        envoy = external_auth_pb2_grpc.AuthorizationStub(channel)
        free = await envoy.Check(_check(f"Bearer {token}"))
        assert free.HasField("ok_response") and not free.ok_response.response_headers_to_add
        charged = await envoy.Check(_check(f"Bearer {token}", cost="5"))
        limits = {o.header.key: o.header.value for o in charged.ok_response.response_headers_to_add}
        assert '"workspace-minute";r=995' in limits["ratelimit"]
