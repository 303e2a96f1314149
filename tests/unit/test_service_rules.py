"""The use cases' rules on in-memory fakes of their ports (tests/unit/fakes.py): milliseconds a
rule. The same rules run against PostgreSQL in tests/integration and tests/security."""

from __future__ import annotations

from datetime import timedelta

import pytest

from authsvc.domain.errors import AuthError, ErrorCode
from authsvc.domain.principal import Principal
from authsvc.domain.rate_limits import RateLimit
from authsvc.service.container import Services
from authsvc.service.policy import Policy
from tests.unit.fakes import World

PASSWORD = "a long enough password"


async def _refused(call: object) -> ErrorCode:
    with pytest.raises(AuthError) as refused:
        await call  # type: ignore[misc]
    return refused.value.code


async def _user(services: Services, email: str = "a@example.com", role: str = "admin") -> None:
    await services.users.create(email, PASSWORD, role, "acme")


async def _caller(services: Services, email: str = "a@example.com") -> Principal:
    pair = await services.sessions.login(email, PASSWORD, "192.0.2.1")
    return await services.authenticator.validate(pair.access_token)


# --- refresh ---------------------------------------------------------------------------------
async def test_rotation_replay_within_grace_and_reuse_after_it() -> None:
    world = World()
    services = world.services()
    await _user(services)
    first = await services.sessions.login("a@example.com", PASSWORD, "192.0.2.1")
    second = await services.sessions.refresh(first.refresh_token, "192.0.2.1")
    again = await services.sessions.refresh(first.refresh_token, "192.0.2.1")  # within the grace
    assert again.refresh_token == second.refresh_token  # the live successor, not a new one
    world.advance(world.policy.refresh_grace.total_seconds() + 1)
    assert (
        await _refused(services.sessions.refresh(first.refresh_token, "192.0.2.1")) is ErrorCode.TOKEN_INVALID
    )
    assert any(m.startswith("session:") for m in world.announced)  # reuse revoked the session
    assert (
        await _refused(services.sessions.refresh(second.refresh_token, "192.0.2.1"))
        is ErrorCode.TOKEN_INVALID
    )


async def test_only_a_live_sessions_token_spends_its_users_budget() -> None:
    world = World(Policy(refresh_per_user=RateLimit(3, 60)))
    services = world.services()
    await _user(services)
    dead = await services.sessions.login("a@example.com", PASSWORD, "192.0.2.1")
    live = await services.sessions.login("a@example.com", PASSWORD, "192.0.2.1")
    caller = await services.authenticator.validate(dead.access_token)
    await services.sessions.logout(caller)
    codes = [await _refused(services.sessions.refresh(dead.refresh_token, "203.0.113.9")) for _ in range(5)]
    assert codes == [ErrorCode.TOKEN_INVALID] * 3 + [ErrorCode.RATE_LIMITED] * 2  # the network's
    token = live.refresh_token
    for _ in range(3):  # the user's whole budget is left
        token = (await services.sessions.refresh(token, "198.51.100.1")).refresh_token
    assert await _refused(services.sessions.refresh(token, "198.51.100.1")) is ErrorCode.RATE_LIMITED


async def test_a_refused_rotation_changes_nothing() -> None:
    world = World(Policy(refresh_per_user=RateLimit(1, 60)))
    services = world.services()
    await _user(services)
    pair = await services.sessions.login("a@example.com", PASSWORD, "192.0.2.1")
    token = (await services.sessions.refresh(pair.refresh_token, "192.0.2.1")).refresh_token
    before = {jti: t.retired_at for jti, t in world.state.tokens.items()}
    assert await _refused(services.sessions.refresh(token, "192.0.2.1")) is ErrorCode.RATE_LIMITED
    assert {jti: t.retired_at for jti, t in world.state.tokens.items()} == before


# --- login ------------------------------------------------------------------------------------
async def test_strangers_fill_the_account_cap_but_the_owners_network_still_gets_in() -> None:
    world = World(Policy(login_per_ip=RateLimit(1_000, 60), login_failures_per_account=RateLimit(3, 3600)))
    services = world.services()
    await _user(services)
    await services.sessions.login("a@example.com", PASSWORD, "192.0.2.1")  # home, now known
    for n in range(3):
        assert await _refused(services.sessions.login("a@example.com", "guess", f"203.0.113.{n}")) is (
            ErrorCode.INVALID_CREDENTIALS
        )
    assert await _refused(services.sessions.login("a@example.com", PASSWORD, "203.0.113.99")) is (
        ErrorCode.RATE_LIMITED  # a new network: capped, right password or not
    )
    assert (await services.sessions.login("a@example.com", PASSWORD, "192.0.2.1")).access_token
    # Thirty days later home is a network like any other: strangers can cap it again.
    world.advance(timedelta(days=30, seconds=1).total_seconds())
    for n in range(3):
        await _refused(services.sessions.login("a@example.com", "guess", f"203.0.113.{n}"))
    assert await _refused(services.sessions.login("a@example.com", PASSWORD, "192.0.2.1")) is (
        ErrorCode.RATE_LIMITED
    )


async def test_an_ipv6_client_is_its_64() -> None:
    world = World(Policy(login_per_ip=RateLimit(2, 60)))
    services = world.services()
    await _user(services)
    codes = [
        await _refused(services.sessions.login("a@example.com", "guess", f"2001:db8:1:2::{n}"))
        for n in range(3)
    ]
    assert codes == [ErrorCode.INVALID_CREDENTIALS] * 2 + [ErrorCode.RATE_LIMITED]


# --- API keys ---------------------------------------------------------------------------------
async def test_revoking_a_key_takes_every_permission_it_holds_or_admin() -> None:
    world = World()
    services = world.services()
    await _user(services, "admin@example.com", "admin")
    await _user(services, "member@example.com", "member")
    admin, member = (
        await _caller(services, "admin@example.com"),
        await _caller(services, "member@example.com"),
    )
    big, _ = await services.api_keys.create(admin, "big", ["workspace:admin", "geofences:read"], "live")
    small, _ = await services.api_keys.create(member, "small", ["geofences:read"], "live")
    assert await _refused(services.api_keys.revoke(member, big.id)) is ErrorCode.PERMISSION_DENIED
    assert (await services.api_keys.revoke(member, small.id)).revoked_at == world.clock.now()
    assert (await services.api_keys.revoke(admin, big.id)).revoked_at is not None
    assert await _refused(services.api_keys.revoke(admin, big.id)) is ErrorCode.NOT_FOUND  # once


async def test_keys_made_by_a_key_are_revoked_with_it_transitively() -> None:
    world = World()
    services = world.services()
    await _user(services)
    user = await _caller(services)
    perms = ["api_keys:write", "geofences:read"]
    parent, parent_secret = await services.api_keys.create(user, "parent", perms, "live")
    as_parent = await services.authenticator.validate(parent_secret)
    child, child_secret = await services.api_keys.create(as_parent, "child", perms, "live")
    grandchild, grandchild_secret = await services.api_keys.create(
        await services.authenticator.validate(child_secret), "grandchild", ["geofences:read"], "live"
    )
    assert (child.created_by_key_id, grandchild.created_by_key_id) == (parent.id, child.id)
    await services.api_keys.revoke(user, parent.id)
    for secret in (parent_secret, child_secret, grandchild_secret):
        assert await _refused(services.authenticator.validate(secret)) is ErrorCode.TOKEN_INVALID
    # A key revoked since it was validated creates nothing.
    assert await _refused(services.api_keys.create(as_parent, "late", ["geofences:read"], "live")) is (
        ErrorCode.TOKEN_INVALID
    )


async def test_a_live_only_deployment_refuses_test_keys() -> None:
    world = World(Policy(key_environments=("live",)))
    services = world.services()
    await _user(services)
    user = await _caller(services)
    assert await _refused(services.api_keys.create(user, "t", ["geofences:read"], "test")) is (
        ErrorCode.INVALID_ARGUMENT
    )
    _, live = await services.api_keys.create(user, "l", ["geofences:read"], "live")
    assert (await services.authenticator.validate(live)).environment == "live"
    assert await _refused(services.authenticator.validate("sf_test_" + live[8:])) is ErrorCode.TOKEN_INVALID


# --- users ------------------------------------------------------------------------------------
async def test_look_alike_emails_are_one_account_and_a_refused_user_writes_nothing() -> None:
    world = World()
    services = world.services()
    await _user(services, "a-admin@a.test")
    for look_alike in ("A-ADMIN@a.test", "\uff41-admin@a.test"):
        with pytest.raises(AuthError) as refused:
            await services.users.create(look_alike, PASSWORD, "admin", "another workspace")
        assert refused.value.code is ErrorCode.ALREADY_EXISTS
    assert [w.name for w in world.state.workspaces.values()] == ["acme"]
