"""The public paths: each one's handler and what /openapi.json says of it, in one entry, so the
document is built from the router and cannot name a path the router lacks (or miss one)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from http_facade import bodies, handlers, metrics, oauth, openapi, replies


@dataclass(frozen=True)
class Reply:
    """The success answer: its status, what it means and its body (a `replies` shape, or None)."""

    status: int
    description: str
    shape: Any = None
    media_type: str = "application/json"
    headers: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    summary: str
    reply: Reply
    errors: tuple[int, ...] = ()  # besides those every AuthService call may answer (openapi.UPSTREAM)
    body: type[bodies.RequestBody] | None = None
    authed: bool = False
    upstream: bool = True  # the handler calls AuthService
    query: tuple[Mapping[str, Any], ...] = ()
    form: Any = None  # an OAuth endpoint: its form body (a `replies` TypedDict), errors as RFC 6749


async def _openapi(request: web.Request) -> web.Response:
    return web.Response(body=_DOCUMENT, content_type="application/json")


def _verify(method: str) -> Route:
    return Route(
        method, "/api/v1/auth/verify", handlers.verify,
        "Forward auth for gateways (nginx auth_request, Traefik ForwardAuth): is the token good for "
        "these permissions? HEAD answers as GET does",
        Reply(204, "Allowed; who the caller is, in headers", headers=openapi.IDENTITY_HEADERS), (400, 403),
        authed=True, query=(openapi.PERMISSIONS_QUERY, openapi.COST_QUERY),
    )  # fmt: skip


ROUTES = (
    Route(
        "POST", "/api/v1/auth/login", handlers.login, "Log in with an email and password",
        Reply(200, "A token pair", replies.TokenPair), (401, 403), body=bodies.LoginRequest,
    ),
    Route(
        "POST", "/api/v1/auth/refresh", handlers.refresh,
        "Exchange a refresh token for a new pair (the old one is retired)",
        Reply(200, "A token pair", replies.TokenPair), (401,), body=bodies.RefreshRequest,
    ),
    Route(
        "POST", "/api/v1/auth/logout", handlers.logout, "End the session of the access token",
        Reply(204, "Logged out"), authed=True,
    ),
    Route(
        "GET", "/api/v1/auth/sessions", handlers.list_sessions,
        "The caller's sessions that still let a token through, oldest first (an access token, not an "
        "API key); the caller's own is marked current",
        Reply(200, "A page of sessions", replies.SessionList), authed=True, query=openapi.PAGE_QUERY,
    ),
    Route(
        "DELETE", "/api/v1/auth/sessions/{id}", handlers.revoke_session,
        "End one of the caller's sessions, on every replica at once (the current one too, as a logout)",
        Reply(204, "Ended"), (404,), authed=True,
    ),
    Route(
        "POST", "/api/v1/auth/sessions/revoke-others", handlers.revoke_other_sessions,
        "End every session of the caller but the current one, on every replica at once",
        Reply(200, "How many ended", replies.RevokedSessions), authed=True,
    ),
    Route(
        "GET", "/api/v1/auth/workspaces", handlers.list_workspaces,
        "The workspaces the caller is a member of, with their role in each, oldest membership first "
        "(an access token, not an API key); the one of the caller's token is marked current",
        Reply(200, "The caller's workspaces", replies.WorkspaceList), authed=True,
    ),
    Route(
        "POST", "/api/v1/auth/switch-workspace", handlers.switch_workspace,
        "Trade a refresh token for a pair scoped to another of the user's workspaces: its session "
        "ends at once and a new one starts there (the token is retired as on refresh)",
        Reply(200, "A token pair", replies.TokenPair), (401, 403), body=bodies.SwitchWorkspaceRequest,
    ),
    Route(
        "POST", "/api/v1/auth/password", handlers.change_password,
        "Change the caller's password (the current one proven); every other session of the user ends "
        "at once, the current one goes on",
        Reply(204, "Changed"), (429,), body=bodies.PasswordChange, authed=True,
    ),
    Route(
        "GET", "/api/v1/audit-events", handlers.list_audit_events,
        "The workspace's audit events, newest first (workspace admins): logins and failures, "
        "refresh-token reuse, logouts, API key and password changes; never a secret",
        Reply(200, "A page of events", replies.AuditEventList), (403,), authed=True,
        query=openapi.AUDIT_QUERY,
    ),
    Route(
        "GET", "/api/v1/members", handlers.list_members,
        "The workspace's members, oldest first (workspace admins, or members:read)",
        Reply(200, "A page of members", replies.MemberList), (403,), authed=True, query=openapi.PAGE_QUERY,
    ),
    Route(
        "PATCH", "/api/v1/members/{user_id}", handlers.update_member,
        "Give a member another role (workspace admins): their sessions end at once, their keys lose "
        "what the new role lacks; the last admin stays one (409)",
        Reply(200, "The member as they are now", replies.Member), (403, 404, 409), body=bodies.MemberUpdate,
        authed=True,
    ),
    Route(
        "DELETE", "/api/v1/members/{user_id}", handlers.remove_member,
        "Remove a member (workspace admins): their account is disabled, sessions and keys stop at once; "
        "the last admin stays (409)",
        Reply(204, "Removed"), (403, 404, 409), authed=True,
    ),
    Route(
        "POST", "/api/v1/members/invitations", handlers.create_invitation,
        "Invite an address to the workspace with a role (workspace admins); with mail configured the "
        "one-time link goes by mail, otherwise the reply holds the token, shown this once. Earlier "
        "open invitations of the address are withdrawn",
        Reply(201, "The invitation", replies.NewInvitation), (403, 409, 429), body=bodies.InvitationRequest,
        authed=True,
    ),
    Route(
        "GET", "/api/v1/members/invitations", handlers.list_invitations,
        "The workspace's open invitations, oldest first (workspace admins); never a token",
        Reply(200, "A page of invitations", replies.InvitationList), (403,), authed=True,
        query=openapi.PAGE_QUERY,
    ),
    Route(
        "DELETE", "/api/v1/members/invitations/{invitation_id}", handlers.withdraw_invitation,
        "Withdraw an open invitation (workspace admins): its token stops working",
        Reply(204, "Withdrawn"), (403, 404), authed=True,
    ),
    Route(
        "POST", "/api/v1/auth/invitations/accept", handlers.accept_invitation,
        "Accept an invitation: a new address sets its password, an existing account proves its own; "
        "the account joins the workspace with the invited role",
        Reply(200, "A token pair for the workspace", replies.TokenPair), (401, 409, 429),
        body=bodies.InvitationAcceptance,
    ),
    Route(
        "POST", "/api/v1/members/{user_id}/password-reset", handlers.issue_password_reset,
        "A one-time password reset token for a member of the workspace (workspace admins), shown this "
        "once; it works for 30 minutes, and a new one retires it",
        Reply(201, "The token and when it expires", replies.PasswordReset), (403, 404), authed=True,
    ),
    Route(
        "POST", "/api/v1/auth/password-reset", handlers.request_password_reset,
        "Ask for a password reset link by mail (when the deployment sends mail); the same answer "
        "whether or not the address has an account",
        Reply(202, "Asked"), (429,), body=bodies.PasswordResetRequest,
    ),
    Route(
        "POST", "/api/v1/auth/password-reset/confirm", handlers.confirm_password_reset,
        "Set a new password with a reset token (once); every session of the user ends",
        Reply(204, "Changed"), (429,), body=bodies.PasswordResetConfirmation,
    ),
    Route(
        "GET", "/api/v1/auth/me", handlers.me, "Who the access token or API key stands for",
        Reply(200, "The principal", replies.Principal), authed=True,
    ),
    _verify("GET"),
    _verify("HEAD"),  # some gateways ask with the client's method
    Route(
        "GET", "/api/v1/auth/settings", handlers.get_auth_settings,
        "The workspace's authentication settings (workspace admins)",
        Reply(200, "The settings", replies.AuthSettings), (403, 404), authed=True,
    ),
    Route(
        "PATCH", "/api/v1/auth/settings", handlers.update_auth_settings,
        "Change the workspace's access-token lifetime (workspace admins)",
        Reply(200, "The settings", replies.AuthSettings), (403, 404), body=bodies.AuthSettingsUpdate,
        authed=True,
    ),
    Route(
        "POST", "/api/v1/api-keys", handlers.create_api_key,
        "Create an API key (api_keys:write); its secret is returned this once",
        Reply(201, "The new key and its secret", replies.NewApiKey), (403,), body=bodies.NewApiKeyRequest,
        authed=True,
    ),
    Route(
        "GET", "/api/v1/api-keys", handlers.list_api_keys,
        "A page of the workspace's API keys (api_keys:read), oldest first, never their secrets",
        Reply(200, "The keys", replies.ApiKeyList), (403,), authed=True, query=openapi.KEY_LIST_QUERY,
    ),
    Route(
        "DELETE", "/api/v1/api-keys/{id}", handlers.revoke_api_key, "Revoke an API key (api_keys:write)",
        Reply(204, "Revoked"), (403, 404), authed=True,
    ),
    Route(
        "PATCH", "/api/v1/api-keys/{id}", handlers.update_api_key,
        "Change an API key's name, permissions (never beyond the caller's own), metadata or expiry "
        "(what revoking it takes)",
        Reply(200, "The key as it is now", replies.ApiKey), (403, 404), body=bodies.ApiKeyUpdate, authed=True,
    ),
    Route(
        "GET", "/api/v1/api-keys/{id}/usage", handlers.api_key_usage,
        "Requests charged with an API key (api_keys:read): per UTC day for the last 30 days, per "
        "minute for the last hour",
        Reply(200, "The key's usage", replies.KeyUsage), (403, 404), authed=True,
    ),
    Route(
        "POST", "/api/v1/api-keys/{id}/rotate", handlers.rotate_api_key,
        "Give an API key a new secret, returned this once (what revoking it takes); the old secret "
        "keeps validating for overlap_seconds",
        Reply(201, "The key and its new secret", replies.NewApiKey), (403, 404), body=bodies.RotateRequest,
        authed=True,
    ),
    Route(
        "GET", "/healthz", handlers.healthz, "Liveness: the process runs",
        Reply(200, "Alive", replies.Status), upstream=False,
    ),
    Route(
        "GET", "/readyz", handlers.readyz, "Readiness: AuthService answers and its database is up",
        Reply(200, "Ready", replies.Status), (503,), upstream=False,
    ),
    Route(
        "GET", "/.well-known/jwks.json", handlers.jwks,
        "The public signing keys (EdDSA, ES256, RS256), for verifying access tokens offline",
        Reply(200, "A JWK set", replies.JwkSet),
    ),
    Route(
        "POST", "/oauth2/introspect", oauth.introspect,
        "RFC 7662 token introspection, for clients holding tokens:introspect (HTTP Basic with the "
        "API key's id and secret, or Bearer)",
        Reply(200, "The token's state; only active=false when it is not active", replies.Introspection),
        form=replies.TokenForm,
    ),
    Route(
        "POST", "/oauth2/revoke", oauth.revoke,
        "RFC 7009 token revocation: an access or refresh token ends its session (clients holding "
        "tokens:introspect, or the session's own access token as Bearer)",
        Reply(200, "Revoked, or nothing to revoke (unknown, invalid or expired tokens)"),
        form=replies.TokenForm,
    ),
    Route(
        "GET", "/metrics", metrics.serve, "The facade's Prometheus metrics",
        Reply(200, "The text exposition format", str, media_type="text/plain"), upstream=False,
    ),
    Route(
        "GET", "/openapi.json", _openapi, "This document",
        Reply(200, "The OpenAPI document", dict[str, Any]), upstream=False,
    ),
)  # fmt: skip
_DOCUMENT = json.dumps(openapi.document(ROUTES)).encode()


def add_routes(app: web.Application) -> None:
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
