"""A rolling upgrade: the previous release's `authsvc serve` (v0.1.0, from git) and this one's,
side by side on one database migrated by this one. Tokens and keys issued by either validate on
both, a refresh token moves between them, and a revocation on one is refused by the other within
1 s. Migrations are expand-then-contract so that this always holds (docs/operations.md)."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from pathlib import Path

import grpc
import pytest

from authsvc.v1 import auth_pb2, auth_pb2_grpc
from tests.conftest import TEST_SECRET
from tests.support.grpc_client import bearer, refused_within
from tests.support.processes import clean_env, start_serve
from tests.support.releases import ReleaseUnavailable, checkout_release

pytestmark = pytest.mark.timeout(300)
PASSWORD = "a long enough password"


async def test_the_previous_release_and_this_one_serve_side_by_side(fresh_database_url: str) -> None:
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    env = clean_env(
        AUTHSVC_DATABASE_URL=fresh_database_url,
        AUTHSVC_JWT_SECRET=TEST_SECRET.hex(),
        AUTHSVC_GRPC_ADDRESS="127.0.0.1:0",
        AUTHSVC_BCRYPT_COST="10",
        AUTHSVC_SHUTDOWN_GRACE_SECONDS="1",
        AUTHSVC_BOOTSTRAP_ADMIN_EMAIL=email,
        AUTHSVC_BOOTSTRAP_ADMIN_PASSWORD=PASSWORD,
    )
    with tempfile.TemporaryDirectory(prefix="authsvc-release-") as folder:
        try:
            old_src = await asyncio.to_thread(checkout_release, Path(folder))
        except ReleaseUnavailable as error:
            pytest.fail(str(error), pytrace=False)
        new = await start_serve(env)  # migrates first, as an upgrade's first new replica does
        # A setting v0.1.0 does not know and this release refuses: the old one starting with it
        # shows it really runs v0.1.0's code, not the installed checkout.
        path = os.pathsep.join([str(old_src), env.get("PYTHONPATH", "")])
        old = await start_serve({**env, "PYTHONPATH": path, "AUTHSVC_DATABASE_POOLER": "unknown-to-v0.1.0"})
        try:
            async with (
                grpc.aio.insecure_channel(f"127.0.0.1:{old.port}") as old_channel,
                grpc.aio.insecure_channel(f"127.0.0.1:{new.port}") as new_channel,
            ):
                stubs = {
                    "old": auth_pb2_grpc.AuthServiceStub(old_channel),
                    "new": auth_pb2_grpc.AuthServiceStub(new_channel),
                }
                login = auth_pb2.LoginRequest(email=email, password=PASSWORD)
                pairs = {name: await stub.Login(login) for name, stub in stubs.items()}
                keys = {}
                for name, stub in stubs.items():
                    request = auth_pb2.CreateApiKeyRequest(
                        name=f"made by {name}",
                        permissions=["geofences:read"],
                        environment=auth_pb2.ENVIRONMENT_LIVE,
                    )
                    keys[name] = await stub.CreateApiKey(request, metadata=bearer(pairs[name].access_token))
                for issuer in ("old", "new"):  # whatever one issued, both accept
                    for checker in stubs.values():
                        token = pairs[issuer].access_token
                        reply = await checker.ValidateToken(auth_pb2.ValidateTokenRequest(token=token))
                        assert reply.principal.session_id
                        secret = keys[issuer].secret
                        reply = await checker.ValidateToken(auth_pb2.ValidateTokenRequest(token=secret))
                        assert reply.principal.api_key_id == keys[issuer].api_key.id

                # Sessions the old release started are listed, with no client details (it writes none).
                mine = bearer(pairs["new"].access_token)
                listed = (
                    await stubs["new"].ListSessions(auth_pb2.ListSessionsRequest(), metadata=mine)
                ).sessions
                assert {(s.ip, s.current) for s in listed} == {("", False), ("127.0.0.1", True)}

                # A refresh token moves between releases, and each rotation retires the one before.
                token = pairs["old"].refresh_token
                for stub in (stubs["new"], stubs["old"], stubs["new"]):
                    token = (await stub.Refresh(auth_pb2.RefreshRequest(refresh_token=token))).refresh_token
                listed = (
                    await stubs["new"].ListSessions(auth_pb2.ListSessionsRequest(), metadata=mine)
                ).sessions
                (theirs,) = [s for s in listed if not s.current]  # refreshed by this release last
                assert theirs.ip == "127.0.0.1" and theirs.HasField("last_refreshed_at")

                # Revocations cross releases, within a second.
                await stubs["new"].Logout(
                    auth_pb2.LogoutRequest(), metadata=bearer(pairs["old"].access_token)
                )
                await refused_within(stubs["old"], pairs["old"].access_token, 1.0)
                revoke = auth_pb2.RevokeApiKeyRequest(id=keys["new"].api_key.id)
                await stubs["old"].RevokeApiKey(revoke, metadata=bearer(pairs["new"].access_token))
                await refused_within(stubs["new"], keys["new"].secret, 1.0)
        finally:
            await asyncio.gather(old.stop(), new.stop())
