"""Creating users: all or nothing."""

from __future__ import annotations

import uuid

import pytest

from authsvc.adapters.database import Database
from authsvc.domain.errors import AuthError, ErrorCode
from tests.conftest import AccountFactory, Running


async def test_a_refused_user_leaves_no_new_workspace_behind(
    authsvc: Running, make_account: AccountFactory, database: Database
) -> None:
    taken = await make_account("member")
    workspace = f"ws-never-{uuid.uuid4().hex[:8]}"
    with pytest.raises(AuthError) as refused:
        await authsvc.services.users.create(taken.email, "a long enough password", "admin", workspace)
    assert refused.value.code is ErrorCode.ALREADY_EXISTS
    assert await database.fetchval("SELECT count(*) FROM workspaces WHERE name = $1", workspace) == 0
