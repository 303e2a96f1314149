"""ValidateToken: access tokens, forged and expired tokens, permissions."""

from __future__ import annotations

import base64
import json
import time

import grpc
import jwt

from authsvc.v1 import auth_pb2
from tests.conftest import TEST_SECRET, AccountFactory, Running, ServerFactory
from tests.support.clock import FakeClock
from tests.support.grpc_client import bearer, rpc_error
from tests.support.tokens import forge


async def _pair(running: Running, make_account: AccountFactory, role: str = "member") -> auth_pb2.TokenPair:
    account = await make_account(role)
    return await running.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def _refused(running: Running, token: str) -> grpc.aio.AioRpcError:
    error = await rpc_error(running.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=token)))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    return error


async def test_valid_access_token_yields_the_user_principal(
    authsvc: Running, make_account: AccountFactory
) -> None:
    account = await make_account("viewer")
    pair = await authsvc.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    reply = await authsvc.stub.ValidateToken(
        auth_pb2.ValidateTokenRequest(token=pair.access_token, required_permissions=["geofences:read"])
    )
    principal = reply.principal
    assert principal.kind == auth_pb2.PRINCIPAL_KIND_USER
    assert principal.subject_id == principal.user_id == account.user_id
    assert principal.workspace_id == account.workspace_id
    assert set(principal.permissions) == {"geofences:read", "webhooks:read", "api_keys:read", "members:read"}
    assert principal.session_id and not principal.api_key_id
    assert abs(principal.expires_at.seconds - (time.time() + 24 * 3600)) < 120


async def test_missing_permission_is_permission_denied(
    authsvc: Running, make_account: AccountFactory
) -> None:
    pair = await _pair(authsvc, make_account, "viewer")
    error = await rpc_error(
        authsvc.stub.ValidateToken(
            auth_pb2.ValidateTokenRequest(token=pair.access_token, required_permissions=["geofences:write"])
        )
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error.details() == "Insufficient permissions"


async def test_expired_token_says_token_expired(
    start_authsvc: ServerFactory, make_account: AccountFactory
) -> None:
    clock = FakeClock()
    running = await start_authsvc(clock)
    pair = await _pair(running, make_account)
    clock.advance(24 * 3600 + 25)  # inside the 30 s leeway: still accepted
    await running.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=pair.access_token))
    clock.advance(10)
    error = await _refused(running, pair.access_token)
    assert error.details() == "Token expired"


async def test_tampered_payload_is_rejected(authsvc: Running, make_account: AccountFactory) -> None:
    pair = await _pair(authsvc, make_account)
    header, payload, signature = pair.access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["scope"] = "workspace:admin geofences:write"
    error = await _refused(authsvc, f"{header}.{_b64(claims)}.{signature}")
    assert error.details() == "Invalid or expired token"


async def test_alg_none_and_stripped_signatures_are_rejected(
    authsvc: Running, make_account: AccountFactory
) -> None:
    pair = await _pair(authsvc, make_account)
    _, payload, _ = pair.access_token.split(".")
    for alg in ("none", "None", "NONE"):
        await _refused(authsvc, f"{_b64({'alg': alg, 'typ': 'at+jwt'})}.{payload}.")
    header = pair.access_token.split(".")[0]
    await _refused(authsvc, f"{header}.{payload}.")


async def test_token_signed_with_another_secret_or_algorithm_is_rejected(
    authsvc: Running, make_account: AccountFactory
) -> None:
    pair = await _pair(authsvc, make_account)
    claims = jwt.decode(pair.access_token, TEST_SECRET, algorithms=["HS256"], audience="authsvc")
    await authsvc.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=forge(claims)))  # the control
    await _refused(authsvc, forge(claims, secret=b"k" * 32))
    await _refused(authsvc, forge(claims, algorithm="HS512"))


async def test_refresh_token_is_not_an_access_token(authsvc: Running, make_account: AccountFactory) -> None:
    pair = await _pair(authsvc, make_account)
    await _refused(authsvc, pair.refresh_token)
    error = await rpc_error(
        authsvc.stub.ListApiKeys(auth_pb2.ListApiKeysRequest(), metadata=bearer(pair.refresh_token))
    )
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_claims_are_required_and_checked(authsvc: Running, make_account: AccountFactory) -> None:
    pair = await _pair(authsvc, make_account)
    claims = jwt.decode(pair.access_token, TEST_SECRET, algorithms=["HS256"], audience="authsvc")
    for name in ("exp", "iat", "sub", "jti", "aud", "iss", "sid"):
        stripped = {k: v for k, v in claims.items() if k != name}
        await _refused(authsvc, forge(stripped))
    for name, value in (("aud", "someone-else"), ("iss", "auth"), ("iss", "authsvc2")):
        forged = {**claims, name: value}
        await _refused(authsvc, forge(forged))
    await _refused(authsvc, forge(claims, typ="JWT"))


async def test_garbage_tokens_are_rejected(authsvc: Running) -> None:
    for token in ("", "garbage", "a.b", "a.b.c.d", "!!!.###.$$$", "eyJ" * 5000, "sf_live_short"):
        await _refused(authsvc, token)


async def test_calls_without_credentials_are_unauthenticated(authsvc: Running) -> None:
    error = await rpc_error(authsvc.stub.ListApiKeys(auth_pb2.ListApiKeysRequest()))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    error = await rpc_error(
        authsvc.stub.ListApiKeys(auth_pb2.ListApiKeysRequest(), metadata=(("authorization", "Basic abc"),))
    )
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_valid_token_with_padding_or_stray_characters_is_rejected(
    authsvc: Running, make_account: AccountFactory
) -> None:
    pair = await _pair(authsvc, make_account)
    await authsvc.stub.ValidateToken(
        auth_pb2.ValidateTokenRequest(token=pair.access_token)
    )  # verified, memoised
    for variant in (
        pair.access_token + "=",
        pair.access_token + "==",
        " " + pair.access_token,
        pair.access_token + "\n",
    ):
        await _refused(authsvc, variant)


async def test_a_repeated_access_token_is_verified_once_and_stands_for_one_principal(
    authsvc: Running, make_account: AccountFactory
) -> None:
    """The verified-token memo (service/verified_tokens.py) holds a token after its first check:
    the next presentations skip the signature and get the very same principal, which the encoded
    replies are found by. (An empty memo once read as "no memo" and verified every call.)"""
    pair = await _pair(authsvc, make_account)
    first = await authsvc.services.authenticator.validate(pair.access_token)
    again = await authsvc.services.authenticator.validate(pair.access_token)
    assert again is first
    assert (
        await authsvc.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=pair.access_token))
    ).principal
