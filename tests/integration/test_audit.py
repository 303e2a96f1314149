"""The audit trail is queryable from the database, and holds no secret."""

from __future__ import annotations

import asyncio
import uuid

from authsvc.adapters.database import Database
from authsvc.v1 import auth_pb2
from tests.conftest import AccountFactory, Running
from tests.support.grpc_client import bearer, rpc_error


async def _events(database: Database, user_id: str) -> list[str]:
    rows = await database.fetch(
        "SELECT event FROM audit_events WHERE user_id = $1 ORDER BY id", uuid.UUID(user_id)
    )
    return [r["event"] for r in rows]


async def test_security_events_reach_the_audit_table(
    authsvc: Running, make_account: AccountFactory, database: Database
) -> None:
    account = await make_account("admin")
    await rpc_error(
        authsvc.stub.Login(auth_pb2.LoginRequest(email=account.email, password="not the password"))
    )
    pair = await authsvc.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    key = await authsvc.stub.CreateApiKey(
        auth_pb2.CreateApiKeyRequest(
            name="audited", permissions=["geofences:read"], environment=auth_pb2.ENVIRONMENT_LIVE
        ),
        metadata=bearer(pair.access_token),
    )
    await authsvc.stub.RevokeApiKey(
        auth_pb2.RevokeApiKeyRequest(id=key.api_key.id), metadata=bearer(pair.access_token)
    )
    await authsvc.stub.Logout(auth_pb2.LogoutRequest(), metadata=bearer(pair.access_token))

    for _ in range(40):
        events = await _events(database, account.user_id)
        if len(events) >= 5:
            break
        await asyncio.sleep(0.1)
    assert events == ["login_failed", "login_succeeded", "api_key_created", "api_key_revoked", "logout"]
    rows = await database.fetch("SELECT * FROM audit_events WHERE user_id = $1", uuid.UUID(account.user_id))
    dumped = repr([dict(r) for r in rows])
    for secret in (account.password, pair.access_token, pair.refresh_token, key.secret):
        assert secret not in dumped
