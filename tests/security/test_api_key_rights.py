"""API keys: who may revoke what, keys made by keys, and what a key tells downstream (review
findings 7, 10 and 11).

Before: a member, or a key holding only `geofences:read,api_keys:write`, revoked an admin's
`workspace:admin` key (204); a key created with a key outlived it and named only the human; and
an `sf_test_` key looked like a live one to every service behind authsvc.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import grpc

from authsvc.adapters.database import Database
from authsvc.v1 import auth_pb2
from http_facade.replies import ENVIRONMENT_VALUES
from tests.conftest import AccountFactory, Running, ServerFactory
from tests.facade.client import Facade
from tests.support.grpc_client import bearer, rpc_error, status_of

VERIFY = "/api/v1/auth/verify"


async def _login(
    running: Running, make_account: AccountFactory, role: str, workspace: str | None = None
) -> str:
    account = await make_account(role, workspace)
    pair = await running.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    return pair.access_token


async def _create(
    running: Running, credential: str, permissions: list[str], environment: str = "live", name: str = "k"
) -> auth_pb2.CreateApiKeyResponse:
    request = auth_pb2.CreateApiKeyRequest(
        name=name, permissions=permissions, environment=ENVIRONMENT_VALUES[environment]
    )
    return await running.stub.CreateApiKey(request, metadata=bearer(credential))


async def _code(running: Running, token: str) -> grpc.StatusCode:
    return await status_of(running.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=token)))


async def _revoke(running: Running, credential: str, key_id: str) -> grpc.StatusCode:
    request = auth_pb2.RevokeApiKeyRequest(id=key_id)
    return await status_of(running.stub.RevokeApiKey(request, metadata=bearer(credential)))


# --- finding 11: revoking a key takes every permission it holds, or workspace:admin ------------
async def test_lesser_callers_cannot_revoke_a_greater_key(
    authsvc: Running, make_account: AccountFactory
) -> None:
    workspace = f"ws-rights-{time.monotonic_ns()}"
    admin = await _login(authsvc, make_account, "admin", workspace)
    member = await _login(authsvc, make_account, "member", workspace)
    admin_key = await _create(authsvc, admin, ["workspace:admin", "api_keys:write", "geofences:read"])
    small_key = await _create(authsvc, admin, ["geofences:read", "api_keys:write"])

    for caller in (member, small_key.secret):
        assert await _revoke(authsvc, caller, admin_key.api_key.id) == grpc.StatusCode.PERMISSION_DENIED
    assert await _code(authsvc, admin_key.secret) == grpc.StatusCode.OK  # untouched

    # A caller holding everything the key holds may; so may a workspace admin.
    peer = await _create(authsvc, admin, ["geofences:read", "api_keys:write"])
    assert await _revoke(authsvc, small_key.secret, peer.api_key.id) == grpc.StatusCode.OK
    assert await _revoke(authsvc, admin, admin_key.api_key.id) == grpc.StatusCode.OK
    assert await _code(authsvc, admin_key.secret) == grpc.StatusCode.UNAUTHENTICATED


async def test_over_rest_a_lesser_revocation_is_the_documented_403(
    facade: Facade, make_account: AccountFactory
) -> None:
    workspace = f"ws-rights-rest-{time.monotonic_ns()}"
    admin_account = await make_account("admin", workspace)
    member_account = await make_account("member", workspace)
    admin = (await facade.login(admin_account.email, admin_account.password))["access_token"]
    member = (await facade.login(member_account.email, member_account.password))["access_token"]
    key = await facade.create_api_key(admin, ["workspace:admin", "geofences:read"], "live")
    reply = await facade.call("DELETE", f"/api/v1/api-keys/{key['id']}", token=member)
    assert (reply.status, reply.detail) == (403, "Insufficient permissions")
    assert (await facade.call("GET", "/api/v1/auth/me", token=key["key"])).status == 200


# --- finding 10: a key created with a key is recorded, and revoked with it ------------------------
async def test_keys_minted_by_a_key_name_it_and_die_with_it_on_every_replica(
    start_authsvc: ServerFactory, make_account: AccountFactory
) -> None:
    a, b = await start_authsvc(), await start_authsvc()  # two replicas on one database
    admin = await _login(a, make_account, "admin")
    parent = await _create(a, admin, ["api_keys:write", "api_keys:read", "geofences:read"], name="parent")
    child = await _create(b, parent.secret, ["api_keys:write", "geofences:read"], name="child")
    # docs/security.md: a key is known on the other replicas once they hear its creation notice,
    # at about the moment its own replica does; a few milliseconds may separate them.
    deadline = time.monotonic() + 1.0
    while await _code(a, child.secret) != grpc.StatusCode.OK:
        assert time.monotonic() < deadline, "replica A never heard of the child key"
        await asyncio.sleep(0.01)
    grandchild = await _create(a, child.secret, ["geofences:read"], name="grandchild")
    sibling = await _create(a, admin, ["geofences:read"], name="made by the user")

    listed = await a.stub.ListApiKeys(auth_pb2.ListApiKeysRequest(), metadata=bearer(admin))
    lineage = {key.name: key.created_by_key_id for key in listed.api_keys}
    assert lineage == {
        "parent": "",
        "child": parent.api_key.id,
        "grandchild": child.api_key.id,
        "made by the user": "",
    }
    assert {key.created_by for key in listed.api_keys} == {parent.api_key.created_by}  # the human

    for running in (a, b):  # cached on both replicas
        for key in (child, grandchild, sibling):
            assert await _code(running, key.secret) == grpc.StatusCode.OK
    assert await _revoke(a, admin, parent.api_key.id) == grpc.StatusCode.OK
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        codes = {await _code(b, key.secret) for key in (parent, child, grandchild)}
        if codes == {grpc.StatusCode.UNAUTHENTICATED}:
            break
        await asyncio.sleep(0.05)
    assert codes == {grpc.StatusCode.UNAUTHENTICATED}
    assert {await _code(a, key.secret) for key in (parent, child, grandchild)} == {
        grpc.StatusCode.UNAUTHENTICATED
    }
    assert await _code(b, sibling.secret) == grpc.StatusCode.OK  # the user's own key lives on


async def test_no_key_created_while_its_parent_is_revoked_survives_it(
    start_authsvc: ServerFactory, make_account: AccountFactory, database: Database
) -> None:
    running = await start_authsvc()
    admin = await _login(running, make_account, "admin")
    parent = await _create(running, admin, ["api_keys:write", "geofences:read"])
    creations = [
        running.stub.CreateApiKey(
            auth_pb2.CreateApiKeyRequest(
                name=f"race {n}", permissions=["geofences:read"], environment=auth_pb2.ENVIRONMENT_LIVE
            ),
            metadata=bearer(parent.secret),
        )
        for n in range(30)
    ]
    revocation = running.stub.RevokeApiKey(
        auth_pb2.RevokeApiKeyRequest(id=parent.api_key.id), metadata=bearer(admin)
    )
    outcomes = await asyncio.gather(*creations[:15], revocation, *creations[15:], return_exceptions=True)
    assert not isinstance(outcomes[15], BaseException)  # the revocation went through
    survivors = await database.fetchval(
        "SELECT count(*) FROM api_keys WHERE created_by_key_id = $1 AND revoked_at IS NULL", parent.api_key.id
    )
    assert survivors == 0
    for outcome in outcomes:
        if isinstance(outcome, auth_pb2.CreateApiKeyResponse):
            assert await _code(running, outcome.secret) == grpc.StatusCode.UNAUTHENTICATED
        elif isinstance(outcome, grpc.aio.AioRpcError):
            assert outcome.code() == grpc.StatusCode.UNAUTHENTICATED  # the parent was revoked first


async def test_over_rest_a_key_shows_the_key_it_was_created_with(
    facade: Facade, make_account: AccountFactory
) -> None:
    account = await make_account("admin")
    token = (await facade.login(account.email, account.password))["access_token"]
    parent = await facade.create_api_key(token, ["api_keys:write", "geofences:read"], "live", "parent")
    child = await facade.create_api_key(parent["key"], ["geofences:read"], "live", "child")
    assert parent["created_by_key_id"] is None
    assert child["created_by_key_id"] == parent["id"] and child["created_by"] == account.user_id
    listed = (await facade.call("GET", "/api/v1/api-keys", token=token)).json["api_keys"]
    assert {key["name"]: key["created_by_key_id"] for key in listed} == {
        "parent": None,
        "child": parent["id"],
    }


# --- finding 7: the environment downstream, and deployments that refuse test keys -----------------
async def test_the_environment_reaches_the_principal_me_and_forward_auth(
    authsvc: Running, facade: Facade, make_account: AccountFactory
) -> None:
    account = await make_account("admin")
    token = (await facade.login(account.email, account.password))["access_token"]
    live = await facade.create_api_key(token, ["geofences:read"], "live")
    test = await facade.create_api_key(token, ["geofences:read"], "test")

    for key, environment in ((live, "live"), (test, "test")):
        principal = (
            await authsvc.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=key["key"]))
        ).principal
        assert principal.environment == ENVIRONMENT_VALUES[environment]
        assert (await facade.call("GET", "/api/v1/auth/me", token=key["key"])).json[
            "environment"
        ] == environment
        verified = await facade.call("GET", VERIFY, token=key["key"])
        assert verified.status == 204 and verified.headers["X-Auth-Environment"] == environment
    assert (await facade.call("GET", "/api/v1/auth/me", token=token)).json["environment"] is None
    as_user = await facade.call("GET", VERIFY, token=token)
    assert as_user.status == 204 and "X-Auth-Environment" not in as_user.headers


async def test_a_deployment_can_refuse_test_keys_altogether(
    start_authsvc: ServerFactory, authsvc: Running, make_account: AccountFactory
) -> None:
    admin = await _login(authsvc, make_account, "admin")
    test_key = await _create(authsvc, admin, ["geofences:read"], "test")  # made where test keys are fine
    live_key = await _create(authsvc, admin, ["geofences:read"], "live")
    production = await start_authsvc(api_key_environments=("live",))

    assert await _code(production, live_key.secret) == grpc.StatusCode.OK
    refused = await rpc_error(
        production.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=test_key.secret))
    )
    assert (refused.code(), refused.details()) == (
        grpc.StatusCode.UNAUTHENTICATED,
        "Invalid or expired token",
    )
    creating = await rpc_error(_create(production, admin, ["geofences:read"], "test"))
    assert (creating.code(), creating.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Environment must be 'live'",
    )


async def test_no_key_created_while_its_creator_is_demoted_keeps_the_old_role(
    start_authsvc: ServerFactory, make_account: AccountFactory, database: Database
) -> None:
    """Creations racing a demotion: each either came first (and the demotion narrowed it) or saw
    the new role (and was refused); no live key of the member holds what a viewer lacks."""
    running = await start_authsvc()
    admin_account = await make_account("admin")
    admin = await _login(running, make_account, "admin", admin_account.workspace)
    member = await make_account("member", admin_account.workspace)
    for round_ in range(3):
        token = (
            await running.stub.Login(auth_pb2.LoginRequest(email=member.email, password=member.password))
        ).access_token
        creations = [
            running.stub.CreateApiKey(
                auth_pb2.CreateApiKeyRequest(
                    name=f"race {round_}.{n}",
                    permissions=["geofences:write"],
                    environment=auth_pb2.ENVIRONMENT_LIVE,
                ),
                metadata=bearer(token),
            )
            for n in range(20)
        ]
        demotion = running.stub.UpdateMember(
            auth_pb2.UpdateMemberRequest(user_id=member.user_id, role="viewer"), metadata=bearer(admin)
        )
        outcomes = await asyncio.gather(*creations[:10], demotion, *creations[10:], return_exceptions=True)
        assert not isinstance(outcomes[10], BaseException)  # the demotion went through
        for outcome in outcomes:
            if isinstance(outcome, grpc.aio.AioRpcError):
                assert outcome.code() == grpc.StatusCode.UNAUTHENTICATED  # the role changed first
        broad = await database.fetchval(
            "SELECT count(*) FROM api_keys WHERE created_by = $1 AND revoked_at IS NULL "
            "AND 'geofences:write' = ANY(permissions)",
            uuid.UUID(member.user_id),
        )
        assert broad == 0
        await running.stub.UpdateMember(
            auth_pb2.UpdateMemberRequest(user_id=member.user_id, role="member"), metadata=bearer(admin)
        )
