"""Subscription plans from the operator's side: `authsvc workspace set-plan` (the only way to
change a workspace's plan), and a plans file that does not parse refusing to start."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import grpc
import pytest

from authsvc.adapters.database import Database
from authsvc.config import Settings
from authsvc.v1 import auth_pb2
from tests.conftest import TEST_SECRET, AccountFactory, ServerFactory
from tests.support.clock import FakeClock
from tests.support.eventually import eventually
from tests.support.processes import clean_env

PLANS = (
    'default = "free"\n\n[plans.free]\nrequests_per_minute = 1000\n\n[plans.tiny]\nrequests_per_minute = 5\n'
)


async def _authsvc(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "authsvc", *args,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
def plans_file(tmp_path: Path) -> Path:
    path = tmp_path / "plans.toml"
    path.write_text(PLANS)
    return path


def _env(settings: Settings, plans: Path) -> dict[str, str]:
    assert settings.database_url is not None
    return clean_env(
        AUTHSVC_DATABASE_URL=settings.database_url,
        AUTHSVC_JWT_SECRET=TEST_SECRET.hex(),
        AUTHSVC_PLANS_FILE=str(plans),
    )


async def test_set_plan_moves_a_workspace_and_serving_replicas_follow(
    settings: Settings, start_authsvc: ServerFactory, make_account: AccountFactory, plans_file: Path
) -> None:
    clock = FakeClock()
    clock.advance(61 - clock.now().timestamp() % 60)
    running = await start_authsvc(clock, plans_file=plans_file)
    account = await make_account("admin")
    token = (
        await running.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    ).access_token
    charge = auth_pb2.ValidateTokenRequest(token=token, cost=6)
    assert (await running.stub.ValidateToken(charge)).rate_limits  # free: 1,000 a minute

    code, out, _ = await _authsvc(
        ["workspace", "set-plan", "--workspace", account.workspace, "--plan", "tiny"],
        _env(settings, plans_file),
    )
    assert code == 0 and "plan tiny (5 per minute)" in out

    async def tiny() -> bool:
        try:
            await running.stub.ValidateToken(charge)
        except grpc.aio.AioRpcError as error:
            return error.details() == "cost 6 is more than the workspace-minute limit (5)"
        return False

    await eventually(tiny)  # the CLI's notice reaches the serving replica


async def test_an_unknown_plan_or_workspace_changes_nothing(
    settings: Settings, make_account: AccountFactory, plans_file: Path, database: Database
) -> None:
    account = await make_account("admin")
    env = _env(settings, plans_file)
    code, out, err = await _authsvc(
        ["workspace", "set-plan", "--workspace", account.workspace, "--plan", "gold"], env
    )
    assert (code, out) == (1, "") and "Unknown plan 'gold': the plans are free, tiny" in err
    code, _, err = await _authsvc(
        ["workspace", "set-plan", "--workspace", "no-such-ws", "--plan", "tiny"], env
    )
    assert code == 1 and "No workspace named 'no-such-ws'" in err
    plan = await database.fetchval("SELECT plan FROM workspaces WHERE name = $1", account.workspace)
    assert plan is None


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('default = "free"\n\n[plans.free\nrequests_per_minute = 1\n', "line 3"),  # TOML itself
        (
            'default = "free"\n[plans.free]\nrequests_per_minute = 1\n[plans.pro]\nrequests_per_day = -5\n',
            "line 4",
        ),
        ('default = "gold"\n[plans.free]\nrequests_per_minute = 1\n', "line 1"),
        ('default = "free"\n[plans.free]\nrequests_per_hour = 1\n', "line 2"),
    ],
)
async def test_a_plans_file_that_does_not_parse_refuses_to_start_naming_the_line(
    settings: Settings, tmp_path: Path, text: str, line: str
) -> None:
    bad = tmp_path / "plans.toml"
    bad.write_text(text)
    code, out, err = await _authsvc(["migrate"], _env(settings, bad))
    assert code == 2 and out == ""
    assert err.startswith("authsvc: configuration error: AUTHSVC_PLANS_FILE:") and line in err
    assert "Traceback" not in err
