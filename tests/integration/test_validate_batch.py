"""ValidateTokens: many checks in one call, each answered exactly as ValidateToken answers it."""

from __future__ import annotations

import grpc
from prometheus_client import REGISTRY

from authsvc.domain import api_key_format
from authsvc.v1 import auth_pb2
from tests.conftest import AccountFactory, Running
from tests.support.grpc_client import bearer, rpc_error

Check = auth_pb2.ValidateTokenRequest


def _checks_counted(code: str) -> float:
    return REGISTRY.get_sample_value("authsvc_token_checks_total", {"grpc_code": code}) or 0.0


async def _login(running: Running, make_account: AccountFactory, role: str) -> str:
    account = await make_account(role)
    pair = await running.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    return str(pair.access_token)


async def test_each_check_gets_what_validate_token_says_in_order(
    authsvc: Running, make_account: AccountFactory
) -> None:
    admin = await _login(authsvc, make_account, "admin")
    viewer = await _login(authsvc, make_account, "viewer")
    key = await authsvc.stub.CreateApiKey(
        auth_pb2.CreateApiKeyRequest(
            name="batch", permissions=["geofences:read"], environment=auth_pb2.ENVIRONMENT_LIVE
        ),
        metadata=bearer(admin),
    )
    head, _, _ = viewer.rpartition(".")
    checks = [
        Check(token=viewer),
        Check(token=viewer, required_permissions=["geofences:write"]),  # PERMISSION_DENIED
        Check(token="garbage"),
        Check(token=""),  # UNAUTHENTICATED: no credentials
        Check(token=key.secret, required_permissions=["geofences:read"]),
        Check(token=f"{head}.{'A' * 43}"),  # a forged signature
        Check(token=admin, required_permissions=["workspace:admin"]),
        Check(token=api_key_format.generate("live")),  # well formed, unknown
        Check(token=viewer),  # the same token twice in one call
    ]
    counted_before = {code: _checks_counted(code) for code in ("OK", "UNAUTHENTICATED", "PERMISSION_DENIED")}
    reply = await authsvc.stub.ValidateTokens(auth_pb2.ValidateTokensRequest(checks=checks))

    counted = {code: _checks_counted(code) - before for code, before in counted_before.items()}
    assert counted == {"OK": 4, "UNAUTHENTICATED": 4, "PERMISSION_DENIED": 1}  # what /metrics shows
    assert len(reply.verdicts) == len(checks)
    outcomes = []
    for check, verdict in zip(checks, reply.verdicts, strict=True):
        try:
            alone = await authsvc.stub.ValidateToken(check)
        except grpc.aio.AioRpcError as error:
            assert verdict.WhichOneof("outcome") == "refusal", check
            assert (verdict.refusal.code, verdict.refusal.message) == (error.code().value[0], error.details())
            outcomes.append(error.code().name)
        else:
            assert verdict.WhichOneof("outcome") == "principal", check
            assert verdict.principal == alone.principal
            outcomes.append(auth_pb2.PrincipalKind.Name(verdict.principal.kind))
    assert outcomes == [
        "PRINCIPAL_KIND_USER",
        "PERMISSION_DENIED",
        "UNAUTHENTICATED",
        "UNAUTHENTICATED",
        "PRINCIPAL_KIND_API_KEY",
        "UNAUTHENTICATED",
        "PRINCIPAL_KIND_USER",
        "UNAUTHENTICATED",
        "PRINCIPAL_KIND_USER",
    ]
    assert reply.verdicts[1].refusal.message == "Insufficient permissions"
    assert reply.verdicts[0].principal.user_id != reply.verdicts[6].principal.user_id


async def test_an_empty_call_has_no_verdicts(authsvc: Running) -> None:
    reply = await authsvc.stub.ValidateTokens(auth_pb2.ValidateTokensRequest())
    assert list(reply.verdicts) == []


async def test_more_than_512_checks_are_refused_whole(authsvc: Running, make_account: AccountFactory) -> None:
    token = await _login(authsvc, make_account, "viewer")
    fits = await authsvc.stub.ValidateTokens(
        auth_pb2.ValidateTokensRequest(checks=[Check(token=token)] * 512)
    )
    assert len(fits.verdicts) == 512 and all(v.HasField("principal") for v in fits.verdicts)

    error = await rpc_error(
        authsvc.stub.ValidateTokens(auth_pb2.ValidateTokensRequest(checks=[Check(token=token)] * 513))
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == "At most 512 checks per call"


async def test_a_token_checked_before_its_logout_is_refused_after_it(
    authsvc: Running, make_account: AccountFactory
) -> None:
    """The principal of a verified token is kept between calls; its session is still asked each time."""
    token = await _login(authsvc, make_account, "member")
    request = auth_pb2.ValidateTokensRequest(checks=[Check(token=token)] * 3)
    before = await authsvc.stub.ValidateTokens(request)
    assert all(verdict.HasField("principal") for verdict in before.verdicts)

    await authsvc.stub.Logout(auth_pb2.LogoutRequest(), metadata=bearer(token))

    after = await authsvc.stub.ValidateTokens(request)
    assert [(v.refusal.code, v.refusal.message) for v in after.verdicts] == [
        (grpc.StatusCode.UNAUTHENTICATED.value[0], "Invalid or expired token")
    ] * 3
