"""A failure nobody planned for (here: a table gone from under a real database) is INTERNAL with no
detail over gRPC, a refusal of its own inside ValidateTokens, and a bare 500 through REST."""

from __future__ import annotations

import grpc

from authsvc.domain import api_key_format
from authsvc.v1 import auth_pb2, auth_pb2_grpc
from tests.conftest import KeyedAuthsvc
from tests.facade.conftest import FacadeFactory
from tests.support.grpc_client import rpc_error

INTERNAL = grpc.StatusCode.INTERNAL


async def test_an_unplanned_failure_says_internal_error_and_nothing_more(
    keyed_authsvc: KeyedAuthsvc, start_facade: FacadeFactory
) -> None:
    services = keyed_authsvc.services
    user = await services.users.create("internal@example.com", "a long enough password", "member", "ws")
    _, pair = await services.sessions.start_session(user)
    await keyed_authsvc.database.execute("ALTER TABLE api_keys RENAME TO api_keys_gone")
    key = api_key_format.generate("live")  # well formed: only a lookup, which now fails, can judge it

    async with grpc.aio.insecure_channel(f"127.0.0.1:{keyed_authsvc.port}") as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        error = await rpc_error(stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=key)))
        assert (error.code(), error.details()) == (INTERNAL, "Internal error")

        checks = [auth_pb2.ValidateTokenRequest(token=t) for t in (key, pair.access_token)]
        reply = await stub.ValidateTokens(auth_pb2.ValidateTokensRequest(checks=checks))
        assert (reply.verdicts[0].refusal.code, reply.verdicts[0].refusal.message) == (
            INTERNAL.value[0],
            "Internal error",
        )
        assert reply.verdicts[1].principal.user_id == user.id  # the other check is unharmed

    facade = await start_facade(f"127.0.0.1:{keyed_authsvc.port}")
    me = await facade.call("GET", "/api/v1/auth/me", token=key)
    assert (me.status, me.json) == (500, {"detail": "Internal server error"})
    assert "api_keys" not in me.raw.decode()
