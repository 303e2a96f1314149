"""Logs at DEBUG: every security event is there, with a UTC timestamp, and no secret ever is."""

from __future__ import annotations

import json

import grpc

from authsvc.domain.rate_limits import RateLimit
from authsvc.v1 import auth_pb2
from tests.conftest import TEST_SECRET, AccountFactory, ServerFactory
from tests.security.conftest import Capture
from tests.support.addresses import forwarded_for, unique_client_ip
from tests.support.clock import FakeClock
from tests.support.grpc_client import bearer, rpc_error


async def test_security_events_are_logged_without_secrets(
    start_authsvc: ServerFactory, make_account: AccountFactory, captured: Capture
) -> None:
    clock = FakeClock()
    running = await start_authsvc(clock, login_rate_limit=RateLimit(3, 60))
    account = await make_account("admin")
    ip = unique_client_ip()
    stub, meta = running.stub, forwarded_for(ip)

    await rpc_error(
        stub.Login(
            auth_pb2.LoginRequest(email=account.email, password="wrong-password"),
            metadata=(*meta, ("x-request-id", "req-trace-42")),
        )
    )
    pair = await stub.Login(
        auth_pb2.LoginRequest(email=account.email, password=account.password), metadata=meta
    )
    await stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password), metadata=meta)
    limited = await rpc_error(
        stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password), metadata=meta)
    )
    assert limited.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    rotated = await stub.Refresh(auth_pb2.RefreshRequest(refresh_token=pair.refresh_token))
    key = await stub.CreateApiKey(
        auth_pb2.CreateApiKeyRequest(
            name="logged", permissions=["geofences:read"], environment=auth_pb2.ENVIRONMENT_TEST
        ),
        metadata=bearer(rotated.access_token),
    )
    await stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=key.secret))
    await rpc_error(stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=key.secret[:-1] + "x")))
    await stub.RevokeApiKey(
        auth_pb2.RevokeApiKeyRequest(id=key.api_key.id), metadata=bearer(rotated.access_token)
    )
    clock.advance(60)
    await rpc_error(stub.Refresh(auth_pb2.RefreshRequest(refresh_token=pair.refresh_token)))  # reuse

    text = "\n".join(captured.lines)
    secrets = [
        account.password,
        "wrong-password",
        pair.access_token,
        pair.refresh_token,
        rotated.access_token,
        rotated.refresh_token,
        key.secret,
        key.secret[12:],
        TEST_SECRET.hex(),
    ]
    for secret in secrets:
        assert secret not in text
    for part in (".".join(pair.access_token.split(".")[1:]), pair.refresh_token.split(".")[2]):
        assert part not in text
    for event in (
        "login failed",
        "login succeeded",
        "rate limit refused",
        "refresh ok",
        "api key created",
        "validation refused",
        "api key revoked",
        "refresh token reuse",
    ):
        assert event in text, event
    entries = [json.loads(line) for line in captured.lines]
    assert all(entry["ts"].endswith("+00:00") for entry in entries)
    failed = [e for e in entries if e["msg"].startswith("login failed")]
    assert failed[0]["request_id"] == "req-trace-42"
