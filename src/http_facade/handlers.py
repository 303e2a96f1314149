"""One handler per public path: JSON in → one AuthService call → JSON out. No rules of their own."""

from __future__ import annotations

from typing import Any, overload

import grpc
from aiohttp import web
from google.protobuf import field_mask_pb2
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2

from authsvc.client.forward_auth_headers import identity_headers, rate_limit_headers
from authsvc.v1 import auth_pb2
from http_facade import replies
from http_facade.bodies import (
    ApiKeyUpdate,
    AuthSettingsUpdate,
    InvitationAcceptance,
    InvitationRequest,
    KeyRateLimit,
    LoginRequest,
    MemberUpdate,
    NewApiKeyRequest,
    PasswordChange,
    PasswordResetConfirmation,
    PasswordResetRequest,
    RefreshRequest,
    RotateRequest,
    SwitchWorkspaceRequest,
    read_json,
)
from http_facade.errors import FacadeError
from http_facade.forwarding import bearer_token, call_options, requested_cost, required_permissions
from http_facade.state import SETTINGS, UPSTREAM

HEALTH_SERVICE = "authsvc.v1.AuthService"
READY_TIMEOUT_SECONDS = 1.0
# Replies that hold credentials must never be stored by a cache (RFC 6749 §5.1).
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# A new signing key is published only seconds before it signs: caches must ask again every time.
# Verifiers keep their own copy (PyJWKClient does, and refetches on an unknown kid).
REVALIDATE = {"Cache-Control": "no-cache"}


async def login(request: web.Request) -> web.Response:
    body = await read_json(request, LoginRequest)
    message = auth_pb2.LoginRequest(email=body.email, password=body.password, workspace_id=body.workspace_id)
    reply = await request.app[UPSTREAM].auth.Login(message, **call_options(request))
    return web.json_response(replies.token_pair(reply), headers=NO_STORE)


async def refresh(request: web.Request) -> web.Response:
    body = await read_json(request, RefreshRequest)
    message = auth_pb2.RefreshRequest(refresh_token=body.refresh_token)
    reply = await request.app[UPSTREAM].auth.Refresh(message, **call_options(request))
    return web.json_response(replies.token_pair(reply), headers=NO_STORE)


async def logout(request: web.Request) -> web.Response:
    await request.app[UPSTREAM].auth.Logout(auth_pb2.LogoutRequest(), **call_options(request))
    return web.Response(status=204)


async def list_sessions(request: web.Request) -> web.Response:
    """A page of the caller's live sessions, oldest first."""
    message = auth_pb2.ListSessionsRequest(
        page_size=_page_size(request), page_token=_query(request, "page_token", "")
    )
    reply = await request.app[UPSTREAM].auth.ListSessions(message, **call_options(request))
    listed: replies.SessionList = {
        "sessions": [replies.session(s) for s in reply.sessions],
        "next_page_token": reply.next_page_token,
    }
    return web.json_response(listed)


async def revoke_session(request: web.Request) -> web.Response:
    message = auth_pb2.RevokeSessionRequest(id=request.match_info["id"])
    await request.app[UPSTREAM].auth.RevokeSession(message, **call_options(request))
    return web.Response(status=204)


async def revoke_other_sessions(request: web.Request) -> web.Response:
    message = auth_pb2.RevokeOtherSessionsRequest()
    reply = await request.app[UPSTREAM].auth.RevokeOtherSessions(message, **call_options(request))
    ended: replies.RevokedSessions = {"revoked": reply.revoked}
    return web.json_response(ended)


async def list_workspaces(request: web.Request) -> web.Response:
    message = auth_pb2.ListWorkspacesRequest()
    reply = await request.app[UPSTREAM].auth.ListWorkspaces(message, **call_options(request))
    listed: replies.WorkspaceList = {"workspaces": [replies.workspace(w) for w in reply.workspaces]}
    return web.json_response(listed)


async def switch_workspace(request: web.Request) -> web.Response:
    body = await read_json(request, SwitchWorkspaceRequest)
    message = auth_pb2.SwitchWorkspaceRequest(
        refresh_token=body.refresh_token, workspace_id=body.workspace_id
    )
    reply = await request.app[UPSTREAM].auth.SwitchWorkspace(message, **call_options(request))
    return web.json_response(replies.token_pair(reply), headers=NO_STORE)


async def change_password(request: web.Request) -> web.Response:
    body = await read_json(request, PasswordChange)
    message = auth_pb2.ChangePasswordRequest(
        current_password=body.current_password, new_password=body.new_password
    )
    await request.app[UPSTREAM].auth.ChangePassword(message, **call_options(request))
    return web.Response(status=204)


async def list_audit_events(request: web.Request) -> web.Response:
    """A page of the workspace's audit events, newest first, of one type, actor or age if asked."""
    actor = _query(request, "actor_id", None)
    if actor == "":  # given empty is not the same as absent
        raise FacadeError(400, "actor_id must be a user id")
    message = auth_pb2.ListAuditEventsRequest(
        page_size=_page_size(request),
        page_token=_query(request, "page_token", ""),
        type=_query(request, "type", ""),
        actor_id=actor or "",
    )
    since = _query(request, "since", None)
    if since is not None:
        try:
            message.since.FromJsonString(since)
        except ValueError:
            raise FacadeError(400, "since must be an RFC 3339 time") from None
    reply = await request.app[UPSTREAM].auth.ListAuditEvents(message, **call_options(request))
    listed: replies.AuditEventList = {
        "events": [replies.audit_event(e) for e in reply.events],
        "next_page_token": reply.next_page_token,
    }
    return web.json_response(listed)


async def list_members(request: web.Request) -> web.Response:
    message = auth_pb2.ListMembersRequest(
        page_size=_page_size(request), page_token=_query(request, "page_token", "")
    )
    reply = await request.app[UPSTREAM].auth.ListMembers(message, **call_options(request))
    listed: replies.MemberList = {
        "members": [replies.member(m) for m in reply.members],
        "next_page_token": reply.next_page_token,
    }
    return web.json_response(listed)


async def update_member(request: web.Request) -> web.Response:
    body = await read_json(request, MemberUpdate)
    message = auth_pb2.UpdateMemberRequest(user_id=request.match_info["user_id"], role=body.role)
    reply = await request.app[UPSTREAM].auth.UpdateMember(message, **call_options(request))
    return web.json_response(replies.member(reply))


async def remove_member(request: web.Request) -> web.Response:
    message = auth_pb2.RemoveMemberRequest(user_id=request.match_info["user_id"])
    await request.app[UPSTREAM].auth.RemoveMember(message, **call_options(request))
    return web.Response(status=204)


async def create_invitation(request: web.Request) -> web.Response:
    body = await read_json(request, InvitationRequest)
    message = auth_pb2.CreateInvitationRequest(email=body.email, role=body.role)
    reply = await request.app[UPSTREAM].auth.CreateInvitation(message, **call_options(request))
    made: replies.NewInvitation = replies.invitation(reply.invitation)  # type: ignore[assignment]
    if reply.token:
        made["token"] = reply.token
    return web.json_response(made, status=201, headers=NO_STORE)


async def list_invitations(request: web.Request) -> web.Response:
    message = auth_pb2.ListInvitationsRequest(
        page_size=_page_size(request), page_token=_query(request, "page_token", "")
    )
    reply = await request.app[UPSTREAM].auth.ListInvitations(message, **call_options(request))
    listed: replies.InvitationList = {
        "invitations": [replies.listed_invitation(i) for i in reply.invitations],
        "next_page_token": reply.next_page_token,
    }
    return web.json_response(listed)


async def withdraw_invitation(request: web.Request) -> web.Response:
    message = auth_pb2.WithdrawInvitationRequest(invitation_id=request.match_info["invitation_id"])
    await request.app[UPSTREAM].auth.WithdrawInvitation(message, **call_options(request))
    return web.Response(status=204)


async def accept_invitation(request: web.Request) -> web.Response:
    body = await read_json(request, InvitationAcceptance)
    message = auth_pb2.AcceptInvitationRequest(token=body.token, password=body.password)
    reply = await request.app[UPSTREAM].auth.AcceptInvitation(message, **call_options(request))
    return web.json_response(replies.token_pair(reply), headers=NO_STORE)


async def issue_password_reset(request: web.Request) -> web.Response:
    message = auth_pb2.IssuePasswordResetRequest(user_id=request.match_info["user_id"])
    reply = await request.app[UPSTREAM].auth.IssuePasswordReset(message, **call_options(request))
    issued: replies.PasswordReset = {"token": reply.token, "expires_at": reply.expires_at.ToJsonString()}
    return web.json_response(issued, status=201, headers=NO_STORE)


async def request_password_reset(request: web.Request) -> web.Response:
    body = await read_json(request, PasswordResetRequest)
    message = auth_pb2.RequestPasswordResetRequest(email=body.email)
    await request.app[UPSTREAM].auth.RequestPasswordReset(message, **call_options(request))
    return web.Response(status=202)


async def confirm_password_reset(request: web.Request) -> web.Response:
    body = await read_json(request, PasswordResetConfirmation)
    message = auth_pb2.ConfirmPasswordResetRequest(token=body.token, new_password=body.new_password)
    await request.app[UPSTREAM].auth.ConfirmPasswordReset(message, **call_options(request))
    return web.Response(status=204)


async def me(request: web.Request) -> web.Response:
    upstream = request.app[UPSTREAM]
    if upstream.local is not None:  # answered from the revocation stream: no AuthService call
        principal = await upstream.local.validate(bearer_token(request), ())
        return web.Response(text=upstream.local_replies.me(principal), content_type="application/json")
    return web.json_response(replies.principal(await upstream.token_checks.check(bearer_token(request))))


async def verify(request: web.Request) -> web.Response:
    """Forward auth (nginx `auth_request`, Traefik ForwardAuth): 204 and the identity headers when
    the Bearer token holds every permission the gateway asks for; otherwise the error table's
    401, 403, 429, 503... AuthService decides, as in one ValidateToken call (batched together
    with the other checks in flight: authsvc.client.batching)."""
    upstream = request.app[UPSTREAM]
    checks = upstream.token_checks
    cost = requested_cost(request)
    if not cost and upstream.local is not None:  # a charge is counted by AuthService: not local
        local = await upstream.local.validate(bearer_token(request), tuple(required_permissions(request)))
        return web.Response(status=204, headers={**upstream.local_replies.identity(local), **NO_STORE})
    if not cost:
        principal = await checks.check(bearer_token(request), required_permissions(request))
        return web.Response(status=204, headers={**identity_headers(principal), **NO_STORE})
    principal, limits = await checks.charge(bearer_token(request), required_permissions(request), cost)
    headers = {**identity_headers(principal), **rate_limit_headers(limits), **NO_STORE}
    return web.Response(status=204, headers=headers)


async def jwks(request: web.Request) -> web.Response:
    reply = await request.app[UPSTREAM].auth.GetJwks(auth_pb2.GetJwksRequest(), **call_options(request))
    return web.json_response(replies.jwk_set(reply), headers=REVALIDATE)


async def create_api_key(request: web.Request) -> web.Response:
    body = await read_json(request, NewApiKeyRequest)
    # An unknown environment travels as unspecified: AuthService answers with the accepted ones.
    environment = replies.ENVIRONMENT_VALUES.get(body.environment, auth_pb2.ENVIRONMENT_UNSPECIFIED)
    message = auth_pb2.CreateApiKeyRequest(
        name=body.name, permissions=body.permissions, environment=environment
    )
    if body.expires_at is not None and body.expires_in_seconds is not None:
        raise FacadeError(400, "Give expires_at or expires_in_seconds, not both")
    if body.expires_at is not None:
        _set_moment(message.expires_at, body.expires_at, "expires_at")
    elif body.expires_in_seconds is not None:
        message.expires_in_seconds = body.expires_in_seconds
    if body.metadata is not None:
        _set_object(message.metadata, body.metadata, "metadata")
    if body.rate_limit is not None:
        message.rate_limit.CopyFrom(_rate_limit(body.rate_limit))
    reply = await request.app[UPSTREAM].auth.CreateApiKey(message, **call_options(request))
    return web.json_response(replies.created_api_key(reply), status=201, headers=NO_STORE)


async def list_api_keys(request: web.Request) -> web.Response:
    """One page of the workspace's keys (AIP-158), of one environment or state if asked."""
    size = _page_size(request)
    environment = _query(request, "environment", None)  # given empty is not the same as absent
    state = _query(request, "state", None)
    if environment is not None and environment not in replies.ENVIRONMENT_VALUES:
        raise FacadeError(400, "environment must be live or test")
    if state is not None and state not in replies.KEY_STATE_VALUES:
        raise FacadeError(400, "state must be active, revoked or expired")
    page = auth_pb2.ListApiKeysRequest(
        page_size=size,
        page_token=_query(request, "page_token", ""),
        environment=replies.ENVIRONMENT_VALUES.get(environment or "", auth_pb2.ENVIRONMENT_UNSPECIFIED),
        state=replies.KEY_STATE_VALUES.get(state or "", auth_pb2.API_KEY_STATE_UNSPECIFIED),
    )
    reply = await request.app[UPSTREAM].auth.ListApiKeys(page, **call_options(request))
    listed: replies.ApiKeyList = {
        "api_keys": [replies.api_key(key) for key in reply.api_keys],
        "next_page_token": reply.next_page_token,
    }
    return web.json_response(listed)


def _page_size(request: web.Request) -> int:
    size = _query(request, "page_size", "0")
    if not (size.isascii() and size.isdigit() and len(size) <= 9):
        raise FacadeError(400, "page_size must be a whole number (at most 100 are listed)")
    return int(size)


@overload
def _query(request: web.Request, name: str, default: str) -> str: ...
@overload
def _query(request: web.Request, name: str, default: None) -> str | None: ...
def _query(request: web.Request, name: str, default: str | None) -> str | None:
    """A query parameter given at most once."""
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise FacadeError(400, f"{name} must be given once")
    return values[0] if values else default


async def revoke_api_key(request: web.Request) -> web.Response:
    message = auth_pb2.RevokeApiKeyRequest(id=request.match_info["id"])
    await request.app[UPSTREAM].auth.RevokeApiKey(message, **call_options(request))
    return web.Response(status=204)


async def update_api_key(request: web.Request) -> web.Response:
    """The fields the body gives (an AIP-134 update mask of them); AuthService refuses an empty one."""
    body = await read_json(request, ApiKeyUpdate)
    given = sorted(body.model_fields_set)
    key = auth_pb2.ApiKey(id=request.match_info["id"], name=body.name, permissions=body.permissions)
    if body.metadata is not None:
        _set_object(key.metadata, body.metadata, "metadata")
    if body.expires_at is not None:
        _set_moment(key.expires_at, body.expires_at, "expires_at")
    if body.rate_limit is not None:
        key.rate_limit.CopyFrom(_rate_limit(body.rate_limit))
    message = auth_pb2.UpdateApiKeyRequest(api_key=key, update_mask=field_mask_pb2.FieldMask(paths=given))
    reply = await request.app[UPSTREAM].auth.UpdateApiKey(message, **call_options(request))
    return web.json_response(replies.api_key(reply.api_key))


def _rate_limit(body: KeyRateLimit) -> auth_pb2.KeyRateLimit:
    return auth_pb2.KeyRateLimit(
        requests_per_minute=body.requests_per_minute, requests_per_day=body.requests_per_day
    )


def _set_moment(field: Timestamp, text: str, name: str) -> None:
    try:
        field.FromJsonString(text)
    except ValueError:
        raise FacadeError(400, f"Field {name} must be an RFC 3339 time") from None


def _set_object(field: Struct, value: dict[str, Any], name: str) -> None:
    try:
        field.update(value)
    except (ValueError, TypeError, OverflowError):  # a number no double holds
        raise FacadeError(400, f"Field {name} must be a JSON object of JSON values") from None


async def api_key_usage(request: web.Request) -> web.Response:
    message = auth_pb2.GetApiKeyUsageRequest(id=request.match_info["id"])
    reply = await request.app[UPSTREAM].auth.GetApiKeyUsage(message, **call_options(request))
    return web.json_response(replies.key_usage(reply))


async def rotate_api_key(request: web.Request) -> web.Response:
    body = await read_json(request, RotateRequest)
    message = auth_pb2.RotateApiKeyRequest(id=request.match_info["id"], overlap_seconds=body.overlap_seconds)
    reply = await request.app[UPSTREAM].auth.RotateApiKey(message, **call_options(request))
    return web.json_response(replies.rotated_api_key(reply), status=201, headers=NO_STORE)


async def get_auth_settings(request: web.Request) -> web.Response:
    message = auth_pb2.GetAuthSettingsRequest()
    reply = await request.app[UPSTREAM].auth.GetAuthSettings(message, **call_options(request))
    return web.json_response(replies.auth_settings(reply.settings))


async def update_auth_settings(request: web.Request) -> web.Response:
    body = await read_json(request, AuthSettingsUpdate)
    fields = body.model_dump()
    message = auth_pb2.UpdateAuthSettingsRequest(
        settings=auth_pb2.AuthSettings(**fields), update_mask=field_mask_pb2.FieldMask(paths=list(fields))
    )
    reply = await request.app[UPSTREAM].auth.UpdateAuthSettings(message, **call_options(request))
    return web.json_response(replies.auth_settings(reply.settings))


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when AuthService reports SERVING, which it does only while its database answers."""
    timeout = min(READY_TIMEOUT_SECONDS, request.app[SETTINGS].call_timeout_seconds)
    try:
        reply = await request.app[UPSTREAM].health.Check(
            health_pb2.HealthCheckRequest(service=HEALTH_SERVICE), timeout=timeout
        )
    except grpc.aio.AioRpcError as error:  # unreachable, no health service...: not ready
        raise FacadeError(503, "Service unavailable") from error
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        raise FacadeError(503, "Service unavailable")
    return web.json_response({"status": "ready"})
