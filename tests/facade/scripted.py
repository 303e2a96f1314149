"""A stand-in AuthService on a real gRPC port, answering every call as the test scripts it.

The real AuthService cannot be made to fail with INTERNAL, DATA_LOSS or a slow reply on demand;
this one can, and it records the metadata each call arrived with.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2_grpc

from authsvc.v1 import auth_pb2, auth_pb2_grpc

Context = Any


@dataclass
class Script:
    code: grpc.StatusCode = grpc.StatusCode.OK
    details: str = ""
    trailers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    crash: bool = False  # raise inside the servicer: grpcio answers UNKNOWN with the exception text


@dataclass
class ScriptedAuthService(auth_pb2_grpc.AuthServiceServicer):
    script: Script = field(default_factory=Script)
    seen: list[list[tuple[str, str]]] = field(default_factory=list)
    batches: list[list[str]] = field(default_factory=list)  # the tokens of each ValidateTokens call

    async def _answer(self, context: Context, reply: Any) -> Any:
        script = self.script  # the one in force when the call arrived
        self.seen.append(list(context.invocation_metadata()))
        await asyncio.sleep(script.delay)
        if script.crash:
            raise RuntimeError("boom at /srv/authsvc/secret.py line 42")
        if script.code != grpc.StatusCode.OK:
            await context.abort(script.code, script.details, script.trailers)
        return reply

    async def Login(self, request: Any, context: Context) -> Any:
        pair = auth_pb2.TokenPair(
            access_token="a", refresh_token="r", expires_in=60, token_type=auth_pb2.TOKEN_TYPE_BEARER
        )
        return await self._answer(context, pair)

    async def Refresh(self, request: Any, context: Context) -> Any:
        pair = auth_pb2.TokenPair(
            access_token="a", refresh_token="r", expires_in=60, token_type=auth_pb2.TOKEN_TYPE_BEARER
        )
        return await self._answer(context, pair)

    async def ValidateToken(self, request: Any, context: Context) -> Any:
        principal = auth_pb2.Principal(kind=auth_pb2.PRINCIPAL_KIND_USER, user_id="u", session_id="s")
        return await self._answer(context, auth_pb2.ValidateTokenResponse(principal=principal))

    async def ValidateTokens(self, request: Any, context: Context) -> Any:
        self.batches.append([check.token for check in request.checks])
        principal = auth_pb2.Principal(kind=auth_pb2.PRINCIPAL_KIND_USER, user_id="u", session_id="s")
        verdicts = [auth_pb2.TokenVerdict(principal=principal) for _ in request.checks]
        return await self._answer(context, auth_pb2.ValidateTokensResponse(verdicts=verdicts))

    async def CreateApiKey(self, request: Any, context: Context) -> Any:
        return await self._answer(context, auth_pb2.CreateApiKeyResponse(secret="sf_test_x"))

    async def ListApiKeys(self, request: Any, context: Context) -> Any:
        return await self._answer(context, auth_pb2.ListApiKeysResponse())

    async def RevokeApiKey(self, request: Any, context: Context) -> Any:
        return await self._answer(context, auth_pb2.RevokeApiKeyResponse())

    async def Logout(self, request: Any, context: Context) -> Any:
        return await self._answer(context, auth_pb2.LogoutResponse())

    async def GetAuthSettings(self, request: Any, context: Context) -> Any:
        return await self._answer(context, auth_pb2.GetAuthSettingsResponse())

    async def UpdateAuthSettings(self, request: Any, context: Context) -> Any:
        return await self._answer(context, auth_pb2.UpdateAuthSettingsResponse())


@dataclass
class Scripted:
    servicer: ScriptedAuthService
    health: health.aio.HealthServicer
    port: int

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"


@asynccontextmanager
async def serving(servicer: ScriptedAuthService) -> AsyncIterator[Scripted]:
    """`servicer`, with a health service beside it, on a free local port until the block ends."""
    health_servicer = health.aio.HealthServicer()
    server = grpc.aio.server()
    auth_pb2_grpc.add_AuthServiceServicer_to_server(servicer, server)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield Scripted(servicer, health_servicer, port)
    finally:
        await server.stop(None)
