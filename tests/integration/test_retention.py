"""The sweeper forgets spent rows (adapters/retention.py) and nothing still of use: a live
session keeps refreshing, open invitations and reset tokens stay, recent audit events stay."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from authsvc.adapters.database import Database
from authsvc.adapters.retention import forget_spent
from authsvc.v1 import auth_pb2
from tests.conftest import AccountFactory, Running

DAY = timedelta(days=1)


async def _count(database: Database, table: str, column: str, value: object) -> int:
    return int(await database.fetchval(f"SELECT count(*) FROM {table} WHERE {column} = $1", value))


async def test_the_sweep_forgets_spent_rows_only(
    authsvc: Running, make_account: AccountFactory, database: Database
) -> None:
    account = await make_account("admin")
    pair = await authsvc.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    checked = await authsvc.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=pair.access_token))
    session = uuid.UUID(checked.principal.session_id)
    now = datetime.now(UTC)
    uid, wid = uuid.UUID(account.user_id), uuid.UUID(account.workspace_id)

    dead, live = uuid.uuid4(), uuid.uuid4()
    await database.execute(
        "INSERT INTO refresh_tokens (jti, session_id, issued_at, expires_at, scoped) "
        "VALUES ($1, $3, $4, $4, true), ($2, $3, $5, $6, true)",
        dead, live, session, now - 40 * DAY, now - 2 * DAY, now - 2 * DAY + 3 * DAY,
    )  # fmt: skip
    old_reset, new_reset = uuid.uuid4().bytes * 2, uuid.uuid4().bytes * 2
    await database.execute(
        "INSERT INTO password_reset_tokens (digest, user_id, created_at, expires_at) "
        "VALUES ($1, $3, $4, $4), ($2, $3, $5, $5)",
        old_reset, new_reset, uid, now - 2 * DAY, now + DAY,
    )  # fmt: skip
    old_invite, open_invite = uuid.uuid4(), uuid.uuid4()
    await database.execute(
        "INSERT INTO invitations (id, workspace_id, email, role, digest, created_at, expires_at) "
        "VALUES ($1, $3, 'a@example.com', 'member', $4, $5, $5), "
        "($2, $3, 'b@example.com', 'member', $6, $7, $8)",
        old_invite, open_invite, wid, uuid.uuid4().bytes, now - 40 * DAY, uuid.uuid4().bytes, now, now + DAY,
    )  # fmt: skip
    sent, waiting = await database.fetch(
        "INSERT INTO mail_outbox (created_at, not_after, next_attempt_at, sent_at) "
        "VALUES ($1, $1, $1, $1), ($2, $3, $2, NULL) RETURNING id",
        now - 8 * DAY, now, now + DAY,
    )  # fmt: skip
    old_event, new_event = await database.fetch(
        "INSERT INTO audit_events (at, event, user_id) VALUES ($1, 'login_succeeded', $3), "
        "($2, 'login_succeeded', $3) RETURNING id",
        now - 400 * DAY, now - 300 * DAY, uid,
    )  # fmt: skip

    await forget_spent(database, now, 365)

    assert await _count(database, "refresh_tokens", "jti", dead) == 0
    assert await _count(database, "refresh_tokens", "jti", live) == 1
    assert await _count(database, "password_reset_tokens", "digest", old_reset) == 0
    assert await _count(database, "password_reset_tokens", "digest", new_reset) == 1
    assert await _count(database, "invitations", "id", old_invite) == 0
    assert await _count(database, "invitations", "id", open_invite) == 1
    assert await _count(database, "mail_outbox", "id", sent["id"]) == 0
    assert await _count(database, "mail_outbox", "id", waiting["id"]) == 1
    assert await _count(database, "audit_events", "id", old_event["id"]) == 0
    assert await _count(database, "audit_events", "id", new_event["id"]) == 1
    refreshed = await authsvc.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=pair.refresh_token))
    assert refreshed.access_token  # the live session's own token stayed

    await forget_spent(database, now, 0)  # 0: audit events are kept, however old
    assert await _count(database, "audit_events", "id", new_event["id"]) == 1
