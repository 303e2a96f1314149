"""GET /api/v1/api-keys/{id}/usage: what forward-auth checks charged with a key."""

from __future__ import annotations

from authsvc.v1 import auth_pb2
from tests.conftest import AccountFactory, Running
from tests.facade.client import Facade
from tests.support.grpc_client import bearer


async def test_usage_over_rest(facade: Facade, authsvc: Running, make_account: AccountFactory) -> None:
    account = await make_account("admin")
    token = (await facade.login(account.email, account.password))["access_token"]
    request = auth_pb2.CreateApiKeyRequest(
        name="counted", permissions=["geofences:read"], environment=auth_pb2.ENVIRONMENT_LIVE
    )
    key = await authsvc.stub.CreateApiKey(request, metadata=bearer(token))
    for _ in range(4):
        assert (await facade.call("GET", "/api/v1/auth/verify", token=key.secret)).status == 204
    reply = await facade.call("GET", f"/api/v1/api-keys/{key.api_key.id}/usage", token=token)
    assert reply.status == 200
    assert sum(day["requests"] for day in reply.json["days"]) == 4
    assert reply.json["minutes"][-1]["requests"] == 4 and reply.json["minutes"][-1]["start"].endswith(":00Z")
    missing = await facade.call("GET", "/api/v1/api-keys/nope/usage", token=token)
    assert (missing.status, missing.detail) == (404, "API key not found")
