"""API keys with a lifetime: chosen at creation within the deployment's bound, shown with the key,
and refused as "API key expired" on every replica the moment it ends."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from authsvc.adapters.database import Database
from authsvc.domain.api_key_lifetime import YEAR
from authsvc.v1 import auth_pb2
from tests.conftest import AccountFactory, Running, ServerFactory
from tests.support.clock import FakeClock
from tests.support.eventually import eventually
from tests.support.grpc_client import bearer, rpc_error, status_of


async def _admin_token(running: Running, make_account: AccountFactory) -> tuple[str, str]:
    account = await make_account("admin")
    reply = await running.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    return reply.access_token, account.workspace_id


def _request(**expiry: object) -> auth_pb2.CreateApiKeyRequest:
    return auth_pb2.CreateApiKeyRequest(
        name="expiring", permissions=["geofences:read"], environment=auth_pb2.ENVIRONMENT_LIVE, **expiry
    )


def _at(running: Running, seconds: float) -> Timestamp:
    moment = Timestamp()
    moment.FromDatetime(running.clock.now() + timedelta(seconds=seconds))
    return moment


async def test_a_key_stops_validating_on_every_replica_when_its_lifetime_ends(
    start_authsvc: ServerFactory, make_account: AccountFactory
) -> None:
    clock = FakeClock()
    a, b = await start_authsvc(clock), await start_authsvc(clock)
    token, _ = await _admin_token(a, make_account)
    created = await a.stub.CreateApiKey(_request(expires_in_seconds=3600), metadata=bearer(token))
    ends = clock.now().replace(microsecond=0) + timedelta(seconds=3600)
    assert created.api_key.expires_at.ToDatetime().replace(microsecond=0) == ends.replace(tzinfo=None)
    check = auth_pb2.ValidateTokenRequest(token=created.secret)

    async def known(replica: Running) -> bool:
        return (await status_of(replica.stub.ValidateToken(check))) == grpc.StatusCode.OK

    await eventually(lambda: known(b))  # B hears of the new key by notice, a moment after A
    for replica in (a, b):  # both know the key (and cache it) while it lives
        principal = (await replica.stub.ValidateToken(check)).principal
        assert principal.api_key_id == created.api_key.id
        assert principal.expires_at == created.api_key.expires_at

    clock.advance(3599)
    for replica in (a, b):
        await replica.stub.ValidateToken(check)
    clock.advance(1.5)
    for replica in (a, b):
        error = await rpc_error(replica.stub.ValidateToken(check))
        assert (error.code(), error.details()) == (grpc.StatusCode.UNAUTHENTICATED, "API key expired")
        batch = await replica.stub.ValidateTokens(
            auth_pb2.ValidateTokensRequest(checks=[auth_pb2.ValidateTokenRequest(token=created.secret)])
        )
        refusal = batch.verdicts[0].refusal
        assert (refusal.code, refusal.message) == (
            grpc.StatusCode.UNAUTHENTICATED.value[0],
            "API key expired",
        )
    # Still listed (with its end), and keys without a lifetime still never expire.
    listed = await a.stub.ListApiKeys(auth_pb2.ListApiKeysRequest(), metadata=bearer(token))
    assert [key.expires_at for key in listed.api_keys] == [created.api_key.expires_at]


async def test_a_key_created_with_expires_at_keeps_that_moment(
    authsvc: Running, make_account: AccountFactory
) -> None:
    token, _ = await _admin_token(authsvc, make_account)
    wanted = _at(authsvc, 86400)
    created = await authsvc.stub.CreateApiKey(_request(expires_at=wanted), metadata=bearer(token))
    listed = await authsvc.stub.ListApiKeys(auth_pb2.ListApiKeysRequest(), metadata=bearer(token))
    assert listed.api_keys[0].expires_at == created.api_key.expires_at
    assert listed.api_keys[0].expires_at.seconds == wanted.seconds
    plain = await authsvc.stub.CreateApiKey(_request(), metadata=bearer(token))
    assert not plain.api_key.HasField("expires_at")
    authsvc.clock.advance(10 * YEAR)
    assert (
        await authsvc.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=plain.secret))
    ).principal.api_key_id


@pytest.mark.parametrize(
    ("expiry", "detail"),
    [
        ({"expires_in_seconds": 0}, f"expires_in_seconds must be between 1 and {YEAR}"),
        ({"expires_in_seconds": -60}, f"expires_in_seconds must be between 1 and {YEAR}"),
        ({"expires_in_seconds": YEAR + 1}, f"expires_in_seconds must be between 1 and {YEAR}"),
        ({"expires_at": -60}, "expires_at must be in the future"),
        ({"expires_at": 0}, "expires_at must be in the future"),
        ({"expires_at": YEAR + 60}, f"expires_at must be at most {YEAR} seconds from now"),
    ],
)
async def test_lifetimes_out_of_bounds_are_refused_and_create_nothing(
    authsvc: Running, make_account: AccountFactory, database: Database, expiry: dict[str, int], detail: str
) -> None:
    token, workspace = await _admin_token(authsvc, make_account)
    fields: dict[str, object] = dict(expiry)
    if "expires_at" in fields:
        fields["expires_at"] = _at(authsvc, expiry["expires_at"])
    error = await rpc_error(authsvc.stub.CreateApiKey(_request(**fields), metadata=bearer(token)))
    assert (error.code(), error.details()) == (grpc.StatusCode.INVALID_ARGUMENT, detail)
    assert await database.fetchval("SELECT count(*) FROM api_keys WHERE workspace_id = $1", workspace) == 0


async def test_the_longest_lifetime_is_the_deployments_choice(
    start_authsvc: ServerFactory, make_account: AccountFactory
) -> None:
    running = await start_authsvc(api_key_max_lifetime_seconds=3600)
    token, _ = await _admin_token(running, make_account)
    error = await rpc_error(
        running.stub.CreateApiKey(_request(expires_in_seconds=3601), metadata=bearer(token))
    )
    assert error.details() == "expires_in_seconds must be between 1 and 3600"
    created = await running.stub.CreateApiKey(_request(expires_in_seconds=3600), metadata=bearer(token))
    assert created.api_key.HasField("expires_at")


async def test_an_impossible_timestamp_is_an_invalid_argument(
    authsvc: Running, make_account: AccountFactory
) -> None:
    token, _ = await _admin_token(authsvc, make_account)
    absurd = Timestamp(seconds=2**62)
    error = await rpc_error(authsvc.stub.CreateApiKey(_request(expires_at=absurd), metadata=bearer(token)))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and "expires_at" in (error.details() or "")
