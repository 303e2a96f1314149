"""ListApiKeys filters by environment and state, and never hands out more than 100 a page."""

from __future__ import annotations

from authsvc.v1 import auth_pb2
from tests.conftest import AccountFactory, Running
from tests.support.grpc_client import bearer

LIVE, TEST = auth_pb2.ENVIRONMENT_LIVE, auth_pb2.ENVIRONMENT_TEST


async def _token(running: Running, make_account: AccountFactory) -> str:
    account = await make_account("admin")
    reply = await running.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    return reply.access_token


async def _create(running: Running, token: str, name: str, environment: int, **expiry: int) -> str:
    request = auth_pb2.CreateApiKeyRequest(
        name=name, permissions=["geofences:read"], environment=environment, **expiry
    )
    created = await running.stub.CreateApiKey(request, metadata=bearer(token))
    running.clock.advance(1)  # the list's order is creation time (then id)
    return created.api_key.id


async def _names(running: Running, token: str, **filters: int) -> list[str]:
    listed = await running.stub.ListApiKeys(auth_pb2.ListApiKeysRequest(**filters), metadata=bearer(token))
    return [key.name for key in listed.api_keys]


async def test_keys_are_filtered_by_environment_and_state(
    authsvc: Running, make_account: AccountFactory
) -> None:
    token = await _token(authsvc, make_account)
    await _create(authsvc, token, "live", LIVE)
    await _create(authsvc, token, "test", TEST)
    await _create(authsvc, token, "short-lived", LIVE, expires_in_seconds=60)
    revoked = await _create(authsvc, token, "revoked", TEST)
    await authsvc.stub.RevokeApiKey(auth_pb2.RevokeApiKeyRequest(id=revoked), metadata=bearer(token))
    authsvc.clock.advance(58)

    assert await _names(authsvc, token) == ["live", "test", "short-lived", "revoked"]
    assert await _names(authsvc, token, environment=LIVE) == ["live", "short-lived"]
    assert await _names(authsvc, token, environment=TEST) == ["test", "revoked"]
    assert await _names(authsvc, token, state=auth_pb2.API_KEY_STATE_ACTIVE) == ["live", "test"]
    assert await _names(authsvc, token, state=auth_pb2.API_KEY_STATE_EXPIRED) == ["short-lived"]
    assert await _names(authsvc, token, state=auth_pb2.API_KEY_STATE_REVOKED) == ["revoked"]
    assert await _names(authsvc, token, environment=TEST, state=auth_pb2.API_KEY_STATE_ACTIVE) == ["test"]


async def test_a_page_holds_at_most_100_keys(authsvc: Running, make_account: AccountFactory) -> None:
    token = await _token(authsvc, make_account)
    for n in range(101):  # a second apart: one order
        await _create(authsvc, token, f"k{n:03}", LIVE)
    first = await authsvc.stub.ListApiKeys(
        auth_pb2.ListApiKeysRequest(page_size=1000), metadata=bearer(token)
    )
    assert len(first.api_keys) == 100 and first.next_page_token
    rest = await authsvc.stub.ListApiKeys(
        auth_pb2.ListApiKeysRequest(page_token=first.next_page_token), metadata=bearer(token)
    )
    assert [key.name for key in rest.api_keys] == ["k100"] and rest.next_page_token == ""
    assert [key.name for key in first.api_keys] == [f"k{n:03}" for n in range(100)]
