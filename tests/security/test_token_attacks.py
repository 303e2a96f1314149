"""Attacks on access tokens over gRPC: every one is UNAUTHENTICATED with the generic detail."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import grpc
import jwt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authsvc.v1 import auth_pb2
from tests.conftest import TEST_SECRET, AccountFactory, Running, ServerFactory
from tests.support.clock import FakeClock
from tests.support.grpc_client import rpc_error
from tests.support.tokens import forge


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _sign(claims: dict[str, object], **header: object) -> str:
    return forge(claims, **header)


async def _claims(running: Running, make_account: AccountFactory) -> tuple[str, dict[str, object]]:
    account = await make_account("member")
    pair = await running.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    return pair.access_token, jwt.decode(
        pair.access_token, TEST_SECRET, algorithms=["HS256"], audience="authsvc"
    )


async def _refused(running: Running, token: str) -> None:
    error = await rpc_error(running.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=token)))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED, token[:80]
    assert error.details() in ("Invalid or expired token", "Token expired")


async def test_every_single_byte_mutation_is_refused(authsvc: Running, make_account: AccountFactory) -> None:
    token, _ = await _claims(authsvc, make_account)
    await authsvc.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=token))  # memoised as valid
    alphabet = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ")
    seen: list[str] = []

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(position=st.integers(0, len(token) - 1), replacement=alphabet)
    def mutations(position: int, replacement: str) -> None:
        if token[position] != replacement:
            seen.append(token[:position] + replacement + token[position + 1 :])

    mutations()
    assert len(seen) > 50
    for mutated in seen:
        await _refused(authsvc, mutated)


async def test_header_tricks_are_refused(authsvc: Running, make_account: AccountFactory) -> None:
    _, claims = await _claims(authsvc, make_account)
    await authsvc.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=_sign(claims)))  # the control
    tricks: list[dict[str, object]] = [
        {"kid": None},
        {"kid": "hs-0000000000000000"},
        {"kid": "../../../../dev/null"},
        {"kid": "x' UNION SELECT 'secret"},
        {"jku": "http://127.0.0.1:9/jwks.json"},
        {"x5u": "http://127.0.0.1:9/cert.pem"},
        {"jwk": {"kty": "oct", "k": _b64(b"k" * 32)}},
        {"x5c": ["MIIB"]},
        {"crit": ["exp"]},
        {"crit": ["unknown-extension"], "unknown-extension": True},
    ]
    for extra in tricks:
        await _refused(authsvc, _sign(claims, **extra))


async def test_claims_that_are_missing_or_wrong_are_refused(
    authsvc: Running, make_account: AccountFactory
) -> None:
    _, claims = await _claims(authsvc, make_account)
    await authsvc.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=_sign(claims)))  # the control
    for name in ("exp", "iat", "sub", "jti", "aud", "iss", "sid", "wid"):
        await _refused(authsvc, _sign({k: v for k, v in claims.items() if k != name}))
    for name, value in (
        ("aud", "authsvc-other"),
        ("aud", ["authsvc", "other"]),
        ("iss", "auth"),
        ("iss", "xauthsvc"),
        ("iss", "authsvc "),
        ("exp", "never"),
        ("exp", 1.5e12),
        ("sid", "not-a-uuid"),
        ("sub", 12345),
    ):
        await _refused(authsvc, _sign({**claims, name: value}))


async def test_clock_skew_within_leeway_is_accepted_and_beyond_refused(
    start_authsvc: ServerFactory, make_account: AccountFactory
) -> None:
    clock = FakeClock()
    running = await start_authsvc(clock)
    _, claims = await _claims(running, make_account)
    now = int(clock.now().timestamp())
    for field in ("iat", "nbf"):
        await running.stub.ValidateToken(
            auth_pb2.ValidateTokenRequest(token=_sign({**claims, field: now + 29}))
        )
        await _refused(running, _sign({**claims, field: now + 31}))
    await running.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=_sign({**claims, "exp": now - 29})))
    await _refused(running, _sign({**claims, "exp": now - 31}))


async def test_malformed_tokens_are_refused(authsvc: Running, make_account: AccountFactory) -> None:
    token, _ = await _claims(authsvc, make_account)
    header, payload, signature = token.split(".")
    nested = "[" * 5000 + "]" * 5000
    malformed = [
        f"{header}.{payload}",
        f"{header}.{payload}.{signature}.{signature}",
        f"{header}.{payload}.{signature}====",
        f"{header}!.{payload}.{signature}",
        f"{header}.{_b64(nested.encode())}.{signature}",
        forge({"n": json.loads("[" * 50 + "]" * 50)}),
        "e" * 100_000,
        token + "=",
        "Bearer " + token,
    ]
    for candidate in malformed:
        await _refused(authsvc, candidate)


async def test_deeply_nested_json_under_a_valid_signature_is_refused_not_crashed(authsvc: Running) -> None:
    # Only a holder of the secret could send this; it must still be a clean refusal, never INTERNAL.
    header = _b64(b'{"alg":"HS256","typ":"at+jwt"}')
    payload = _b64(("[" * 2000 + "]" * 2000).encode())
    signature = _b64(hmac.new(TEST_SECRET, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    await _refused(authsvc, f"{header}.{payload}.{signature}")


async def test_tokens_of_a_disabled_user_stop_working(authsvc: Running, make_account: AccountFactory) -> None:
    account = await make_account("admin")
    pair = await authsvc.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    key = await authsvc.stub.CreateApiKey(
        auth_pb2.CreateApiKeyRequest(
            name="k", permissions=["geofences:read"], environment=auth_pb2.ENVIRONMENT_LIVE
        ),
        metadata=(("authorization", f"Bearer {pair.access_token}"),),
    )
    for token in (pair.access_token, key.secret):
        await authsvc.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=token))  # cached as valid

    await authsvc.services.users.disable(account.email)

    for token in (pair.access_token, key.secret):
        await _refused(authsvc, token)
    refresh = await rpc_error(authsvc.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=pair.refresh_token)))
    assert refresh.code() == grpc.StatusCode.UNAUTHENTICATED
    login = await rpc_error(
        authsvc.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    )
    assert login.details() == "Invalid credentials"
