"""A stand-in AuthService for testing a service's own authorisation without running authsvc.

    async with FakeAuthService() as fake:
        app = make_app(fake.client())            # the service, with a real AuthClient
        reader = fake.issue_api_key(["geofences:read"])
        ...                                      # call the service with `Bearer {reader}`

It is a real gRPC server on a local port that answers ValidateToken and ValidateTokens as
AuthService does: the same codes and texts, the same permission rule, credentials that expire or
are revoked. So the middleware, interceptor or FastAPI dependency under test runs exactly as in
production, network hop included; only the credentials are made up. Every other RPC is
UNIMPLEMENTED.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Literal

import grpc
from google.protobuf import json_format
from google.rpc import status_pb2

from authsvc.client.client import AuthClient
from authsvc.client.requirements import checked_permissions
from authsvc.domain.api_key_lifetime import EXPIRED
from authsvc.domain.errors import DEFAULT_DETAIL, ErrorCode
from authsvc.domain.permissions import holds
from authsvc.grpc_api.errors import STATUS_FOR
from authsvc.v1 import auth_pb2, auth_pb2_grpc

__all__ = ["FakeAuthService"]

Clock = Callable[[], datetime]
_ENVIRONMENTS = {"live": auth_pb2.ENVIRONMENT_LIVE, "test": auth_pb2.ENVIRONMENT_TEST}


@dataclass
class _Credential:
    principal: auth_pb2.Principal
    expires_at: datetime | None
    expired_detail: str
    revoked: bool = False


class _Refused(Exception):
    def __init__(self, code: ErrorCode, detail: str | None = None) -> None:
        self.code = STATUS_FOR[code]
        self.detail = detail or DEFAULT_DETAIL[code]


class FakeAuthService:
    """ValidateToken and ValidateTokens over a real local port, for the credentials it issued.

    `clock` (default: the wall clock, UTC) decides expiry, so a test can move time instead of
    sleeping. `available = False` answers every check UNAVAILABLE, as an outage would reach the
    SDK. `required_permissions` lists, in order, what each check asked for."""

    def __init__(self, *, clock: Clock = lambda: datetime.now(UTC), workspace_id: str | None = None) -> None:
        self._clock = clock
        self._credentials: dict[str, _Credential] = {}
        self._server: grpc.aio.Server | None = None
        self.workspace_id = workspace_id or str(uuid.uuid4())
        self.available = True
        self.required_permissions: list[tuple[str, ...]] = []
        self.target = ""

    async def start(self) -> str:
        """Starts serving on a free local port and returns its target ("127.0.0.1:PORT")."""
        self._server = grpc.aio.server()
        auth_pb2_grpc.add_AuthServiceServicer_to_server(_Servicer(self), self._server)
        port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()
        self.target = f"127.0.0.1:{port}"
        return self.target

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(None)
            self._server = None

    async def __aenter__(self) -> FakeAuthService:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.stop()

    def client(self, **options: Any) -> AuthClient:
        """An AuthClient for this fake; without a cache unless `cache_seconds` says otherwise, so a
        revocation in a test is seen by the next request."""
        if not self.target:
            raise RuntimeError("start the FakeAuthService first (async with FakeAuthService() as fake)")
        options.setdefault("cache_seconds", 0)
        return AuthClient(self.target, **options)

    def issue_access_token(
        self,
        permissions: Iterable[str] = (),
        *,
        user_id: str | None = None,
        workspace_id: str | None = None,
        expires_in: timedelta = timedelta(minutes=15),
    ) -> str:
        """A user's access token (opaque here, a JWT from the real service) holding `permissions`."""
        user = user_id or str(uuid.uuid4())
        expires_at = self._clock() + expires_in
        principal = auth_pb2.Principal(
            kind=auth_pb2.PRINCIPAL_KIND_USER,
            subject_id=user,
            user_id=user,
            workspace_id=workspace_id or self.workspace_id,
            permissions=sorted(checked_permissions(permissions, allow_none=True)),
            session_id=str(uuid.uuid4()),
        )
        principal.expires_at.FromDatetime(expires_at)
        token = f"fake-access-token.{secrets.token_urlsafe(24)}"
        self._credentials[token] = _Credential(principal, expires_at, DEFAULT_DETAIL[ErrorCode.TOKEN_EXPIRED])
        return token

    def issue_api_key(
        self,
        permissions: Iterable[str] = (),
        *,
        name: str = "test key",
        environment: Literal["live", "test"] = "test",
        metadata: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        workspace_id: str | None = None,
        expires_at: datetime | None = None,
    ) -> str:
        """An API key holding `permissions`; it never expires unless `expires_at` says when."""
        key_id = str(uuid.uuid4())
        principal = auth_pb2.Principal(
            kind=auth_pb2.PRINCIPAL_KIND_API_KEY,
            subject_id=key_id,
            user_id=user_id or str(uuid.uuid4()),
            workspace_id=workspace_id or self.workspace_id,
            permissions=sorted(checked_permissions(permissions, allow_none=True)),
            api_key_id=key_id,
            environment=_ENVIRONMENTS[environment],
            api_key_name=name,
        )
        json_format.ParseDict(dict(metadata or {}), principal.metadata)
        if expires_at is not None:
            principal.expires_at.FromDatetime(expires_at)
        token = f"sf_{environment}_fake{secrets.token_urlsafe(24)}"
        self._credentials[token] = _Credential(principal, expires_at, EXPIRED)
        return token

    def revoke(self, token: str) -> None:
        """From now on `token` is refused, as a logout or a key revocation makes it."""
        self._credentials[token].revoked = True

    def _check(self, request: auth_pb2.ValidateTokenRequest) -> auth_pb2.Principal:
        self.required_permissions.append(tuple(request.required_permissions))
        if not self.available:
            raise _Refused(ErrorCode.UNAVAILABLE)
        if not request.token:
            raise _Refused(ErrorCode.UNAUTHENTICATED)
        credential = self._credentials.get(request.token)
        if credential is None or credential.revoked:
            raise _Refused(ErrorCode.TOKEN_INVALID)
        if credential.expires_at is not None and self._clock() >= credential.expires_at:
            raise _Refused(ErrorCode.TOKEN_EXPIRED, credential.expired_detail)
        if not holds(frozenset(credential.principal.permissions), request.required_permissions):
            raise _Refused(ErrorCode.PERMISSION_DENIED)
        return credential.principal


class _Servicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, fake: FakeAuthService) -> None:
        self._fake = fake

    async def ValidateToken(
        self, request: auth_pb2.ValidateTokenRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> auth_pb2.ValidateTokenResponse:
        try:
            return auth_pb2.ValidateTokenResponse(principal=self._fake._check(request))
        except _Refused as refused:
            await context.abort(refused.code, refused.detail)
            raise  # abort raises

    async def ValidateTokens(
        self, request: auth_pb2.ValidateTokensRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> auth_pb2.ValidateTokensResponse:
        verdicts = []
        for check in request.checks:
            try:
                verdicts.append(auth_pb2.TokenVerdict(principal=self._fake._check(check)))
            except _Refused as refused:
                status = status_pb2.Status(code=refused.code.value[0], message=refused.detail)
                verdicts.append(auth_pb2.TokenVerdict(refusal=status))
        return auth_pb2.ValidateTokensResponse(verdicts=verdicts)
