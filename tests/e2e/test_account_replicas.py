"""A user's session and password changes on one `authsvc serve` reach the other within 1 s
(issue 16, items 6 and 10)."""

from __future__ import annotations

import grpc

from authsvc.v1 import auth_pb2
from tests.conftest import AccountFactory
from tests.e2e.conftest import PairFactory
from tests.support.grpc_client import bearer, refused_within, rpc_error


async def test_session_and_password_changes_reach_the_other_replica_within_a_second(
    start_replicas: PairFactory, make_account: AccountFactory
) -> None:
    a, b, _ = await start_replicas(AUTHSVC_LOGIN_RATE_LIMIT="100/60")  # six logins from one address
    account = await make_account()
    credentials = auth_pb2.LoginRequest(email=account.email, password=account.password)
    pairs = [await a.Login(credentials) for _ in range(4)]
    sessions = []
    for pair in pairs:  # each one known and accepted on B first
        checked = await b.ValidateToken(auth_pb2.ValidateTokenRequest(token=pair.access_token))
        sessions.append(checked.principal.session_id)
    current = bearer(pairs[3].access_token)

    listed = await b.ListSessions(auth_pb2.ListSessionsRequest(), metadata=current)
    assert sorted(s.id for s in listed.sessions) == sorted(sessions)
    assert [s.id for s in listed.sessions if s.current] == [sessions[3]]
    await a.RevokeSession(auth_pb2.RevokeSessionRequest(id=sessions[0]), metadata=current)
    assert await refused_within(b, pairs[0].access_token, 1.0) < 1.0

    ended = await a.RevokeOtherSessions(auth_pb2.RevokeOtherSessionsRequest(), metadata=current)
    assert ended.revoked == 2
    assert await refused_within(b, pairs[1].access_token, 1.0) < 1.0
    assert await refused_within(b, pairs[2].access_token, 1.0) < 1.0

    other = await a.Login(credentials)
    await b.ValidateToken(auth_pb2.ValidateTokenRequest(token=other.access_token))
    change = auth_pb2.ChangePasswordRequest(
        current_password=account.password, new_password="seven quiet lanterns drifting"
    )
    assert (await b.ChangePassword(change, metadata=current)).sessions_revoked == 1
    assert await refused_within(a, other.access_token, 1.0) < 1.0
    assert (await a.ValidateToken(auth_pb2.ValidateTokenRequest(token=pairs[3].access_token))).principal
    refused = await rpc_error(a.Login(credentials))
    assert refused.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_member_changes_reach_the_other_replica_within_a_second(
    start_replicas: PairFactory, make_account: AccountFactory
) -> None:
    a, b, _ = await start_replicas(AUTHSVC_LOGIN_RATE_LIMIT="100/60")
    admin = await make_account("admin")
    member = await make_account("member", workspace=admin.workspace)
    admin_token = bearer(
        (await a.Login(auth_pb2.LoginRequest(email=admin.email, password=admin.password))).access_token
    )
    credentials = auth_pb2.LoginRequest(email=member.email, password=member.password)
    token = (await a.Login(credentials)).access_token
    key = await a.CreateApiKey(
        auth_pb2.CreateApiKeyRequest(
            name="k", permissions=["geofences:write"], environment=auth_pb2.ENVIRONMENT_LIVE
        ),
        metadata=bearer(token),
    )
    for credential in (token, key.secret):  # known and accepted on B first
        await b.ValidateToken(auth_pb2.ValidateTokenRequest(token=credential))

    await a.UpdateMember(
        auth_pb2.UpdateMemberRequest(user_id=member.user_id, role="viewer"), metadata=admin_token
    )
    assert await refused_within(b, token, 1.0) < 1.0
    narrowed = await b.ValidateToken(auth_pb2.ValidateTokenRequest(token=key.secret))
    assert list(narrowed.principal.permissions) == []  # a viewer reads only: geofences:write is gone

    token = (await b.Login(credentials)).access_token
    await a.ValidateToken(auth_pb2.ValidateTokenRequest(token=token))
    await b.RemoveMember(auth_pb2.RemoveMemberRequest(user_id=member.user_id), metadata=admin_token)
    assert await refused_within(a, token, 1.0) < 1.0
    assert await refused_within(a, key.secret, 1.0) < 1.0


async def test_an_invitation_a_switch_and_a_removal_reach_the_other_replica_within_a_second(
    start_replicas: PairFactory, make_account: AccountFactory
) -> None:
    """Issue 16 items 2-4 across two `authsvc serve`: accepted on B what A issued; a switch on A
    ends the old session's tokens on B; a removal on B ends that workspace's tokens on A only."""
    a, b, _ = await start_replicas(AUTHSVC_LOGIN_RATE_LIMIT="100/60")
    admin, user = await make_account("admin"), await make_account("admin")  # user: a workspace of their own
    admin_token = bearer(
        (await a.Login(auth_pb2.LoginRequest(email=admin.email, password=admin.password))).access_token
    )
    made = await a.CreateInvitation(
        auth_pb2.CreateInvitationRequest(email=user.email, role="member"), metadata=admin_token
    )
    joined = await b.AcceptInvitation(
        auth_pb2.AcceptInvitationRequest(token=made.token, password=user.password)
    )
    checked = await a.ValidateToken(auth_pb2.ValidateTokenRequest(token=joined.access_token))
    assert checked.principal.workspace_id == admin.workspace_id

    home = await a.SwitchWorkspace(
        auth_pb2.SwitchWorkspaceRequest(refresh_token=joined.refresh_token, workspace_id=user.workspace_id)
    )
    assert await refused_within(b, joined.access_token, 1.0) < 1.0
    at_home = await b.ValidateToken(auth_pb2.ValidateTokenRequest(token=home.access_token))
    assert at_home.principal.workspace_id == user.workspace_id

    there = await b.Login(
        auth_pb2.LoginRequest(email=user.email, password=user.password, workspace_id=admin.workspace_id)
    )
    await a.ValidateToken(auth_pb2.ValidateTokenRequest(token=there.access_token))
    await b.RemoveMember(auth_pb2.RemoveMemberRequest(user_id=user.user_id), metadata=admin_token)
    assert await refused_within(a, there.access_token, 1.0) < 1.0
    assert (await a.ValidateToken(auth_pb2.ValidateTokenRequest(token=home.access_token))).principal.user_id
