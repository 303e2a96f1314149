"""The `authsvc` command: user creation from stdin, and refusing an unsafe configuration."""

from __future__ import annotations

import asyncio
import sys
import uuid

import grpc

from authsvc.config import Settings
from authsvc.v1 import auth_pb2
from tests.conftest import TEST_SECRET, Running
from tests.support.grpc_client import rpc_error
from tests.support.processes import clean_env


async def _run(args: list[str], env: dict[str, str], stdin: bytes = b"") -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "authsvc", *args,
        env=env, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(stdin), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_user_create_reads_the_password_from_stdin(settings: Settings, authsvc: Running) -> None:
    assert settings.database_url is not None
    env = clean_env(
        AUTHSVC_DATABASE_URL=settings.database_url,
        AUTHSVC_JWT_SECRET=TEST_SECRET.hex(),
        AUTHSVC_BCRYPT_COST="10",
    )
    email = f"cli-{uuid.uuid4().hex[:10]}@example.com"
    password = "correct horse battery"
    code, out, err = await _run(
        ["user", "create", "--email", email, "--role", "viewer", "--workspace", "cli-ws"],
        env,
        password.encode() + b"\n",
    )
    assert code == 0, err
    assert email in out and password not in out + err

    reply = await authsvc.stub.Login(auth_pb2.LoginRequest(email=email, password=password))
    principal = (
        await authsvc.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=reply.access_token))
    ).principal
    assert "geofences:write" not in principal.permissions

    code, _, err = await _run(["user", "create", "--email", email], env, b"another password\n")
    assert code == 1 and "already exists" in err
    code, _, err = await _run(["user", "create", "--email", "x" + email], env, b"short\n")
    assert code == 1 and "at least 15" in err
    error = await rpc_error(authsvc.stub.Login(auth_pb2.LoginRequest(email="x" + email, password="short")))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_a_configured_database_without_a_secret_refuses_to_start(settings: Settings) -> None:
    assert settings.database_url is not None
    code, _, err = await _run(["serve"], clean_env(AUTHSVC_DATABASE_URL=settings.database_url))
    assert code == 2 and "AUTHSVC_JWT_SECRET" in err


async def test_a_new_deployment_signs_with_eddsa(fresh_database_url: str) -> None:
    env = clean_env(AUTHSVC_DATABASE_URL=fresh_database_url, AUTHSVC_JWT_SECRET=TEST_SECRET.hex())
    code, out, err = await _run(["keys", "list"], env)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1 and " EdDSA " in lines[0] and lines[0].startswith("ed-")


async def test_keys_rotate_and_list(fresh_database_url: str) -> None:
    env = clean_env(  # a deployment made before EdDSA became the default
        AUTHSVC_DATABASE_URL=fresh_database_url,
        AUTHSVC_JWT_SECRET=TEST_SECRET.hex(),
        AUTHSVC_SIGNING_ALGORITHM="HS256",
    )
    code, out, err = await _run(["keys", "list"], env)
    assert code == 0, err
    assert out.count(" HS256 ") == 1 and "retires" not in out
    code, out, err = await _run(["keys", "rotate", "--algorithm", "EdDSA"], env)  # how it moves
    assert code == 0 and "new EdDSA signing key ed-" in out, err
    code, out, _ = await _run(["keys", "list"], env)
    lines = out.strip().splitlines()
    assert len(lines) == 2 and "retires" in lines[0] and " EdDSA " in lines[1]
    assert TEST_SECRET.hex() not in out
    # RSA for a gateway that takes nothing else (AWS API Gateway); an unknown algorithm is refused.
    code, out, err = await _run(["keys", "rotate", "--algorithm", "RS256"], env)
    assert code == 0 and "new RS256 signing key rs-" in out, err
    code, _, err = await _run(["keys", "rotate", "--algorithm", "HS512"], env)
    assert code == 2 and "invalid choice" in err
    code, out, _ = await _run(["keys", "list"], env)
    assert [line.split()[1] for line in out.strip().splitlines()] == ["HS256", "EdDSA", "RS256"]
