"""authsvc.v1.AuthService: each method decodes, calls one use case, encodes."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from typing import Any, TypeAlias

from google.protobuf.timestamp_pb2 import Timestamp

from authsvc.client.structs import checked_json_object
from authsvc.domain.bearer import bearer_credentials
from authsvc.domain.errors import AuthError, ErrorCode
from authsvc.domain.principal import Principal
from authsvc.grpc_api import convert
from authsvc.grpc_api.encoded_replies import VALIDATE_TOKEN_LIMITS, EncodedReplies
from authsvc.grpc_api.errors import edge_call, edge_stream, outcome_code
from authsvc.grpc_api.peers import NOBODY, TrustedProxies, client_ip, user_agent
from authsvc.metrics import TOKEN_CHECKS
from authsvc.service.api_keys import KeyChanges
from authsvc.service.container import Services
from authsvc.service.oauth_tokens import RevocationOutcome
from authsvc.service.ports import AuditFilter
from authsvc.v1 import auth_pb2, auth_pb2_grpc

# grpcio ships no type information, so its context is Any to the type checker.
Context: TypeAlias = Any

MAX_CHECKS_PER_CALL = 512


def bearer_token(context: Context) -> str:
    """The token of the caller's `authorization: Bearer ...` metadata."""
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str):
            token = bearer_credentials(value)
            if token is None:
                raise AuthError(ErrorCode.TOKEN_INVALID)
            return token
    raise AuthError(ErrorCode.UNAUTHENTICATED)


_REVOCATIONS = {
    RevocationOutcome.REVOKED: auth_pb2.TOKEN_REVOCATION_REVOKED,
    RevocationOutcome.NOT_A_TOKEN: auth_pb2.TOKEN_REVOCATION_NOT_A_TOKEN,
    RevocationOutcome.UNSUPPORTED: auth_pb2.TOKEN_REVOCATION_UNSUPPORTED_TOKEN_TYPE,
}


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, services: Services, proxies: TrustedProxies = NOBODY) -> None:
        self._services = services
        self._proxies = proxies
        self._encoded = EncodedReplies()

    def _client_ip(self, context: Context) -> str:
        return client_ip(context.peer(), context.invocation_metadata(), self._proxies)

    def _user_agent(self, context: Context) -> str | None:
        return user_agent(context.peer(), context.invocation_metadata(), self._proxies)

    async def _caller(self, context: Context) -> Principal:
        return await self._services.authenticator.validate(bearer_token(context))

    @edge_call
    async def Login(self, request: auth_pb2.LoginRequest, context: Context) -> auth_pb2.TokenPair:
        pair = await self._services.sessions.login(
            request.email,
            request.password,
            self._client_ip(context),
            self._user_agent(context),
            request.workspace_id or None,
        )
        return convert.token_pair(pair)

    @edge_call
    async def Refresh(self, request: auth_pb2.RefreshRequest, context: Context) -> auth_pb2.TokenPair:
        pair = await self._services.sessions.refresh(
            request.refresh_token, self._client_ip(context), self._user_agent(context)
        )
        return convert.token_pair(pair)

    @edge_call
    async def ValidateToken(self, request: auth_pb2.ValidateTokenRequest, context: Context) -> bytes:
        authenticator = self._services.authenticator
        token, required = request.token, request.required_permissions
        if request.cost:
            # From memory when it can be (a cached key with leases in hand): no await at all.
            charged = authenticator.charged_now(token, required, request.cost)
            if charged is None:
                charged = await authenticator.charged(token, required, request.cost)
            return self._encoded.charged(*charged, VALIDATE_TOKEN_LIMITS)
        found = authenticator.validate_now(token, required)
        if found is None:
            found = await authenticator.validate(token, required)
        return self._encoded.principal(found)  # an encoded ValidateTokenResponse

    @edge_stream
    async def WatchRevocations(
        self, request: auth_pb2.WatchRevocationsRequest, context: Context
    ) -> AsyncIterator[auth_pb2.RevocationEvent]:
        events = self._services.revocations.watch(bearer_token(context), request.resume_after)
        async for event in events:
            yield convert.revocation_event(event)

    @edge_call
    async def ValidateTokens(self, request: auth_pb2.ValidateTokensRequest, context: Context) -> bytes:
        checks = request.checks
        if len(checks) > MAX_CHECKS_PER_CALL:
            raise AuthError(ErrorCode.INVALID_ARGUMENT, f"At most {MAX_CHECKS_PER_CALL} checks per call")
        validate, charged = self._services.authenticator.validate, self._services.authenticator.charged
        # Concurrently: a check that must ask the database does not hold up the others.
        outcomes = await asyncio.gather(
            *(
                charged(check.token, check.required_permissions, check.cost)
                if check.cost
                else validate(check.token, check.required_permissions)
                for check in checks
            ),
            return_exceptions=True,
        )
        codes = collections.Counter(outcome_code(outcome) for outcome in outcomes)
        if "CANCELLED" in codes:
            raise asyncio.CancelledError
        for code, count in codes.items():  # one metric update per outcome, not per check
            TOKEN_CHECKS.labels(code).inc(count)
        return self._encoded.verdicts(outcomes)  # an encoded ValidateTokensResponse

    @edge_call
    async def CreateApiKey(
        self, request: auth_pb2.CreateApiKeyRequest, context: Context
    ) -> auth_pb2.CreateApiKeyResponse:
        caller = await self._caller(context)
        which = request.WhichOneof("expiry")
        record, secret = await self._services.api_keys.create(
            caller,
            request.name,
            list(request.permissions),
            convert.environment_name(request.environment),
            expires_at=convert.moment(request.expires_at, "expires_at") if which == "expires_at" else None,
            expires_in=request.expires_in_seconds if which == "expires_in_seconds" else None,
            metadata=checked_json_object(request.metadata, "metadata")
            if request.HasField("metadata")
            else None,
            rate_limit=convert.key_rate_limit(request.rate_limit),
        )
        return auth_pb2.CreateApiKeyResponse(api_key=convert.api_key(record), secret=secret)

    @edge_call
    async def ListApiKeys(
        self, request: auth_pb2.ListApiKeysRequest, context: Context
    ) -> auth_pb2.ListApiKeysResponse:
        caller = await self._caller(context)
        page = await self._services.api_keys.list(
            caller,
            request.page_size,
            request.page_token,
            convert.environment_name(request.environment) or None,
            convert.KEY_STATES.get(request.state),
        )
        return auth_pb2.ListApiKeysResponse(
            api_keys=[convert.api_key(r) for r in page.items], next_page_token=page.next_token
        )

    @edge_call
    async def RevokeApiKey(
        self, request: auth_pb2.RevokeApiKeyRequest, context: Context
    ) -> auth_pb2.RevokeApiKeyResponse:
        record = await self._services.api_keys.revoke(await self._caller(context), request.id)
        return auth_pb2.RevokeApiKeyResponse(api_key=convert.api_key(record))

    @edge_call
    async def UpdateApiKey(
        self, request: auth_pb2.UpdateApiKeyRequest, context: Context
    ) -> auth_pb2.UpdateApiKeyResponse:
        caller = await self._caller(context)
        key, fields = request.api_key, frozenset(request.update_mask.paths)
        changes = KeyChanges(
            fields,
            name=key.name,
            permissions=list(key.permissions),
            metadata=checked_json_object(key.metadata, "metadata") if "metadata" in fields else None,
            expires_at=convert.moment(key.expires_at, "expires_at") if key.HasField("expires_at") else None,
            rate_limit=convert.key_rate_limit(key.rate_limit),
        )
        record = await self._services.api_keys.update(caller, key.id, changes)
        return auth_pb2.UpdateApiKeyResponse(api_key=convert.api_key(record))

    @edge_call
    async def GetApiKeyUsage(
        self, request: auth_pb2.GetApiKeyUsageRequest, context: Context
    ) -> auth_pb2.GetApiKeyUsageResponse:
        usage = await self._services.api_keys.usage(await self._caller(context), request.id)
        return auth_pb2.GetApiKeyUsageResponse(
            days=[convert.usage_count(start, n) for start, n in usage.days],
            minutes=[convert.usage_count(start, n) for start, n in usage.minutes],
        )

    @edge_call
    async def RotateApiKey(
        self, request: auth_pb2.RotateApiKeyRequest, context: Context
    ) -> auth_pb2.RotateApiKeyResponse:
        caller = await self._caller(context)
        record, secret = await self._services.api_keys.rotate(caller, request.id, request.overlap_seconds)
        return auth_pb2.RotateApiKeyResponse(api_key=convert.api_key(record), secret=secret)

    @edge_call
    async def Logout(self, request: auth_pb2.LogoutRequest, context: Context) -> auth_pb2.LogoutResponse:
        await self._services.sessions.logout(await self._caller(context))
        return auth_pb2.LogoutResponse()

    @edge_call
    async def ListSessions(
        self, request: auth_pb2.ListSessionsRequest, context: Context
    ) -> auth_pb2.ListSessionsResponse:
        caller = await self._caller(context)
        page = await self._services.account.sessions(caller, request.page_size, request.page_token)
        return auth_pb2.ListSessionsResponse(
            sessions=[convert.session(s, caller.session_id) for s in page.items],
            next_page_token=page.next_token,
        )

    @edge_call
    async def RevokeSession(
        self, request: auth_pb2.RevokeSessionRequest, context: Context
    ) -> auth_pb2.RevokeSessionResponse:
        await self._services.account.end_session(await self._caller(context), request.id)
        return auth_pb2.RevokeSessionResponse()

    @edge_call
    async def RevokeOtherSessions(
        self, request: auth_pb2.RevokeOtherSessionsRequest, context: Context
    ) -> auth_pb2.RevokeOtherSessionsResponse:
        ended = await self._services.account.end_other_sessions(await self._caller(context))
        return auth_pb2.RevokeOtherSessionsResponse(revoked=ended)

    @edge_call
    async def ListWorkspaces(
        self, request: auth_pb2.ListWorkspacesRequest, context: Context
    ) -> auth_pb2.ListWorkspacesResponse:
        caller = await self._caller(context)
        found = await self._services.account.workspaces(caller)
        return auth_pb2.ListWorkspacesResponse(
            workspaces=[convert.workspace_membership(w, caller.workspace_id) for w in found]
        )

    @edge_call
    async def CreateInvitation(
        self, request: auth_pb2.CreateInvitationRequest, context: Context
    ) -> auth_pb2.CreateInvitationResponse:
        caller = await self._caller(context)
        invited = await self._services.invitations.invite(
            caller, request.email, request.role, self._client_ip(context)
        )
        return auth_pb2.CreateInvitationResponse(
            invitation=convert.invitation(invited.invitation), token=invited.token or ""
        )

    @edge_call
    async def ListInvitations(
        self, request: auth_pb2.ListInvitationsRequest, context: Context
    ) -> auth_pb2.ListInvitationsResponse:
        caller = await self._caller(context)
        page = await self._services.invitations.pending(caller, request.page_size, request.page_token)
        return auth_pb2.ListInvitationsResponse(
            invitations=[convert.invitation(i) for i in page.items], next_page_token=page.next_token
        )

    @edge_call
    async def WithdrawInvitation(
        self, request: auth_pb2.WithdrawInvitationRequest, context: Context
    ) -> auth_pb2.WithdrawInvitationResponse:
        await self._services.invitations.withdraw(await self._caller(context), request.invitation_id)
        return auth_pb2.WithdrawInvitationResponse()

    @edge_call
    async def AcceptInvitation(
        self, request: auth_pb2.AcceptInvitationRequest, context: Context
    ) -> auth_pb2.TokenPair:
        pair = await self._services.invitations.accept(
            request.token, request.password, self._client_ip(context), self._user_agent(context)
        )
        return convert.token_pair(pair)

    @edge_call
    async def SwitchWorkspace(
        self, request: auth_pb2.SwitchWorkspaceRequest, context: Context
    ) -> auth_pb2.TokenPair:
        pair = await self._services.sessions.switch_workspace(
            request.refresh_token, request.workspace_id, self._client_ip(context), self._user_agent(context)
        )
        return convert.token_pair(pair)

    @edge_call
    async def ChangePassword(
        self, request: auth_pb2.ChangePasswordRequest, context: Context
    ) -> auth_pb2.ChangePasswordResponse:
        ended = await self._services.account.change_password(
            await self._caller(context),
            request.current_password,
            request.new_password,
            self._client_ip(context),
        )
        return auth_pb2.ChangePasswordResponse(sessions_revoked=ended)

    @edge_call
    async def ListMembers(
        self, request: auth_pb2.ListMembersRequest, context: Context
    ) -> auth_pb2.ListMembersResponse:
        caller = await self._caller(context)
        page = await self._services.members.list(caller, request.page_size, request.page_token)
        return auth_pb2.ListMembersResponse(
            members=[convert.member(m) for m in page.items], next_page_token=page.next_token
        )

    @edge_call
    async def UpdateMember(self, request: auth_pb2.UpdateMemberRequest, context: Context) -> auth_pb2.Member:
        caller = await self._caller(context)
        return convert.member(await self._services.members.change_role(caller, request.user_id, request.role))

    @edge_call
    async def RemoveMember(
        self, request: auth_pb2.RemoveMemberRequest, context: Context
    ) -> auth_pb2.RemoveMemberResponse:
        await self._services.members.remove(await self._caller(context), request.user_id)
        return auth_pb2.RemoveMemberResponse()

    @edge_call
    async def IssuePasswordReset(
        self, request: auth_pb2.IssuePasswordResetRequest, context: Context
    ) -> auth_pb2.IssuePasswordResetResponse:
        caller = await self._caller(context)
        token, expires_at = await self._services.password_resets.issue_for_member(caller, request.user_id)
        return auth_pb2.IssuePasswordResetResponse(token=token, expires_at=convert.timestamp(expires_at))

    @edge_call
    async def RequestPasswordReset(
        self, request: auth_pb2.RequestPasswordResetRequest, context: Context
    ) -> auth_pb2.RequestPasswordResetResponse:
        await self._services.password_resets.request(request.email, self._client_ip(context))
        return auth_pb2.RequestPasswordResetResponse()

    @edge_call
    async def ConfirmPasswordReset(
        self, request: auth_pb2.ConfirmPasswordResetRequest, context: Context
    ) -> auth_pb2.ConfirmPasswordResetResponse:
        ended = await self._services.password_resets.confirm(
            request.token, request.new_password, self._client_ip(context)
        )
        return auth_pb2.ConfirmPasswordResetResponse(sessions_revoked=ended)

    @edge_call
    async def ListAuditEvents(
        self, request: auth_pb2.ListAuditEventsRequest, context: Context
    ) -> auth_pb2.ListAuditEventsResponse:
        only = AuditFilter(
            type=request.type or None,
            actor_id=request.actor_id or None,
            since=convert.moment(request.since, "since") if request.HasField("since") else None,
        )
        caller = await self._caller(context)
        page = await self._services.audit_trail.events(caller, only, request.page_size, request.page_token)
        return auth_pb2.ListAuditEventsResponse(
            events=[convert.audit_event(e) for e in page.items], next_page_token=page.next_token
        )

    @edge_call
    async def GetAuthSettings(
        self, request: auth_pb2.GetAuthSettingsRequest, context: Context
    ) -> auth_pb2.GetAuthSettingsResponse:
        workspace, ttl = await self._services.workspace_settings.get(await self._caller(context))
        settings = auth_pb2.AuthSettings(workspace_id=workspace.id, access_token_ttl_seconds=ttl)
        return auth_pb2.GetAuthSettingsResponse(settings=settings)

    @edge_call
    async def UpdateAuthSettings(
        self, request: auth_pb2.UpdateAuthSettingsRequest, context: Context
    ) -> auth_pb2.UpdateAuthSettingsResponse:
        caller = await self._caller(context)
        workspace, ttl = await self._services.workspace_settings.update(
            caller, request.settings.access_token_ttl_seconds, request.update_mask.paths
        )
        settings = auth_pb2.AuthSettings(workspace_id=workspace.id, access_token_ttl_seconds=ttl)
        return auth_pb2.UpdateAuthSettingsResponse(settings=settings)

    @edge_call
    async def GetJwks(self, request: auth_pb2.GetJwksRequest, context: Context) -> auth_pb2.GetJwksResponse:
        return auth_pb2.GetJwksResponse(
            keys=[auth_pb2.Jwk(**key) for key in self._services.public_keys.jwks()]
        )

    @edge_call
    async def IntrospectToken(
        self, request: auth_pb2.IntrospectTokenRequest, context: Context
    ) -> auth_pb2.IntrospectTokenResponse:
        found = await self._services.oauth_tokens.introspect(
            await self._caller(context), request.token, request.client_id
        )
        if found.principal is None:
            return auth_pb2.IntrospectTokenResponse(active=False)
        return auth_pb2.IntrospectTokenResponse(
            active=True,
            principal=convert.principal(found.principal),
            issued_at=Timestamp(seconds=found.issued_at) if found.issued_at is not None else None,
            issuer=found.issuer or "",
            audience=found.audience or "",
        )

    @edge_call
    async def RevokeToken(
        self, request: auth_pb2.RevokeTokenRequest, context: Context
    ) -> auth_pb2.RevokeTokenResponse:
        outcome = await self._services.oauth_tokens.revoke(
            await self._caller(context), request.token, request.client_id
        )
        return auth_pb2.RevokeTokenResponse(outcome=_REVOCATIONS[outcome])
