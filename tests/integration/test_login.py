"""Login over a real gRPC channel on real PostgreSQL."""

from __future__ import annotations

import uuid

import grpc
import jwt
from google.protobuf import field_mask_pb2

from authsvc.v1 import auth_pb2
from tests.conftest import TEST_SECRET, AccountFactory, Running
from tests.support.grpc_client import bearer, rpc_error


async def test_login_returns_a_bearer_pair_with_the_documented_fields(
    authsvc: Running, make_account: AccountFactory
) -> None:
    account = await make_account("member")
    reply = await authsvc.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))

    assert reply.token_type == auth_pb2.TOKEN_TYPE_BEARER
    assert reply.expires_in == 24 * 3600
    assert reply.access_token.startswith("eyJ") and reply.refresh_token.startswith("eyJ")
    header = jwt.get_unverified_header(reply.access_token)
    assert header["alg"] == "HS256" and header["typ"] == "at+jwt"
    claims = jwt.decode(reply.access_token, TEST_SECRET, algorithms=["HS256"], audience="authsvc")
    assert claims["iss"] == "authsvc" and claims["sub"] == account.user_id
    assert claims["wid"] == account.workspace_id
    assert claims["exp"] - claims["iat"] == reply.expires_in
    assert {"jti", "sid", "nbf", "scope"} <= claims.keys()
    assert "workspace:admin" not in claims["scope"].split()
    assert "api_keys:write" in claims["scope"].split()


async def test_email_is_matched_case_insensitively(authsvc: Running, make_account: AccountFactory) -> None:
    account = await make_account()
    reply = await authsvc.stub.Login(
        auth_pb2.LoginRequest(email=account.email.upper(), password=account.password)
    )
    assert reply.access_token


async def test_wrong_password_and_unknown_email_fail_alike(
    authsvc: Running, make_account: AccountFactory
) -> None:
    account = await make_account()
    wrong = await rpc_error(
        authsvc.stub.Login(auth_pb2.LoginRequest(email=account.email, password="nope-nope"))
    )
    unknown = await rpc_error(
        authsvc.stub.Login(auth_pb2.LoginRequest(email="nobody-" + account.email, password=account.password))
    )
    for error in (wrong, unknown):
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        assert error.details() == "Invalid credentials"


async def test_passwords_bcrypt_cannot_take_are_refused_cleanly(
    authsvc: Running, make_account: AccountFactory
) -> None:
    account = await make_account()
    for password in ("", "a" * 73, "é" * 37, account.password + "\x00extra"):
        error = await rpc_error(
            authsvc.stub.Login(auth_pb2.LoginRequest(email=account.email, password=password))
        )
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        assert error.details() == "Invalid credentials"


async def test_a_72_byte_password_works_and_its_73_byte_extension_does_not(authsvc: Running) -> None:
    password = "pqr" * 24  # 72 bytes
    email = f"seventy-two-{uuid.uuid4().hex[:8]}@example.com"
    user = await authsvc.services.users.create(email, password, "member", "ws-72")
    ok = await authsvc.stub.Login(auth_pb2.LoginRequest(email=user.email, password=password))
    assert ok.access_token
    error = await rpc_error(
        authsvc.stub.Login(auth_pb2.LoginRequest(email=user.email, password=password + "q"))
    )
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_malformed_email_is_invalid_argument(authsvc: Running) -> None:
    for email in ("", "not-an-email", "a@b", "with space@example.com", "x" * 300 + "@example.com"):
        error = await rpc_error(authsvc.stub.Login(auth_pb2.LoginRequest(email=email, password="whatever1")))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, email


async def test_workspace_ttl_change_is_reflected_in_expires_in(
    authsvc: Running, make_account: AccountFactory
) -> None:
    admin = await make_account("admin")
    member = await make_account("member", workspace=admin.workspace)
    login = await authsvc.stub.Login(auth_pb2.LoginRequest(email=admin.email, password=admin.password))

    updated = await authsvc.stub.UpdateAuthSettings(
        auth_pb2.UpdateAuthSettingsRequest(settings=auth_pb2.AuthSettings(access_token_ttl_seconds=900)),
        metadata=bearer(login.access_token),
    )
    assert updated.settings.access_token_ttl_seconds == 900
    got = await authsvc.stub.GetAuthSettings(
        auth_pb2.GetAuthSettingsRequest(), metadata=bearer(login.access_token)
    )
    assert got.settings.access_token_ttl_seconds == 900
    assert got.settings.workspace_id == admin.workspace_id

    relogin = await authsvc.stub.Login(auth_pb2.LoginRequest(email=member.email, password=member.password))
    assert relogin.expires_in == 900
    claims = jwt.decode(relogin.access_token, TEST_SECRET, algorithms=["HS256"], audience="authsvc")
    assert claims["exp"] - claims["iat"] == 900
    refreshed = await authsvc.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=login.refresh_token))
    assert refreshed.expires_in == 900


async def test_only_admins_change_settings_and_within_bounds(
    authsvc: Running, make_account: AccountFactory
) -> None:
    admin = await make_account("admin")
    member = await make_account("member", workspace=admin.workspace)
    admin_token = (
        await authsvc.stub.Login(auth_pb2.LoginRequest(email=admin.email, password=admin.password))
    ).access_token
    member_token = (
        await authsvc.stub.Login(auth_pb2.LoginRequest(email=member.email, password=member.password))
    ).access_token

    denied = await rpc_error(
        authsvc.stub.UpdateAuthSettings(
            auth_pb2.UpdateAuthSettingsRequest(settings=auth_pb2.AuthSettings(access_token_ttl_seconds=900)),
            metadata=bearer(member_token),
        )
    )
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
    assert denied.details() == "Insufficient permissions"
    for ttl in (299, 30 * 24 * 3600 + 1, 0, -5):
        bad = await rpc_error(
            authsvc.stub.UpdateAuthSettings(
                auth_pb2.UpdateAuthSettingsRequest(
                    settings=auth_pb2.AuthSettings(access_token_ttl_seconds=ttl)
                ),
                metadata=bearer(admin_token),
            )
        )
        assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    got = await authsvc.stub.GetAuthSettings(auth_pb2.GetAuthSettingsRequest(), metadata=bearer(admin_token))
    assert got.settings.access_token_ttl_seconds == 24 * 3600


async def test_settings_change_only_the_fields_their_mask_names(
    authsvc: Running, make_account: AccountFactory
) -> None:
    account = await make_account("admin")
    login = await authsvc.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    meta = bearer(login.access_token)

    def update(ttl: int, *paths: str) -> auth_pb2.UpdateAuthSettingsRequest:
        return auth_pb2.UpdateAuthSettingsRequest(
            settings=auth_pb2.AuthSettings(access_token_ttl_seconds=ttl),
            update_mask=field_mask_pb2.FieldMask(paths=list(paths)),
        )

    changed = await authsvc.stub.UpdateAuthSettings(update(1200, "access_token_ttl_seconds"), metadata=meta)
    assert changed.settings.access_token_ttl_seconds == 1200
    for path in ("password", "workspace_id"):  # no field it may change: refused, nothing written
        error = await rpc_error(authsvc.stub.UpdateAuthSettings(update(900, path), metadata=meta))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and path in error.details()
    got = await authsvc.stub.GetAuthSettings(auth_pb2.GetAuthSettingsRequest(), metadata=meta)
    assert got.settings.access_token_ttl_seconds == 1200
