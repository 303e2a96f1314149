"""authsvc.client.rest.PublicApiClient against the running facade: one login for many calls, a
refresh before expiry and on "Token expired", 429 retried after the Retry-After the facade sent,
503 backed off with full jitter, and a bounded number of attempts; login, refresh and logout on
demand; an API key instead of a session. (Answers the facade cannot be made to give, such as a
gateway's 502: test_rest_client_modes.py.)

What the client sent and what came back is read off the wire with an aiohttp TraceConfig on the
session the client is given; time and randomness are injected, never patched."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from authsvc.client.rest import PublicApiClient
from authsvc.domain.networks import parse_networks
from authsvc.domain.rate_limits import RateLimit
from tests.conftest import AccountFactory, Running, ServerFactory
from tests.facade.client import Facade
from tests.facade.conftest import FacadeFactory
from tests.support.addresses import unique_client_ip
from tests.support.clock import FakeClock

LOGIN, REFRESH, ME = "/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/me"
LOGOUT = "/api/v1/auth/logout"


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    status: int
    retry_after: str | None
    authorization: str | None


@dataclass
class Wire:
    """A session for the client whose every request and answer is recorded."""

    session: aiohttp.ClientSession
    seen: list[Exchange]

    def calls(self) -> list[tuple[str, str, int]]:
        return [(e.method, e.path, e.status) for e in self.seen]


@dataclass
class Stopwatch:
    """The client's monotonic clock, moved by hand."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Sleeper:
    """Records each wait; really sleeps only when asked to."""

    really: bool = False
    waits: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.really:
            await asyncio.sleep(seconds)


def _sequence(*values: float) -> Callable[[], float]:
    remaining: Iterator[float] = iter(values)
    return lambda: next(remaining)


@pytest.fixture
async def wire() -> AsyncIterator[Callable[..., Wire]]:
    sessions: list[aiohttp.ClientSession] = []

    def make(headers: dict[str, str] | None = None) -> Wire:
        seen: list[Exchange] = []

        async def ended(_: Any, __: Any, params: aiohttp.TraceRequestEndParams) -> None:
            answer = params.response
            exchange = Exchange(
                params.method,
                params.url.path,
                answer.status,
                answer.headers.get("Retry-After"),
                params.headers.get("Authorization"),
            )
            seen.append(exchange)

        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(ended)
        session = aiohttp.ClientSession(headers=headers, trace_configs=[trace])
        sessions.append(session)
        return Wire(session, seen)

    yield make
    for session in sessions:
        await session.close()


async def test_one_login_serves_many_calls(
    facade: Facade, make_account: AccountFactory, wire: Callable[..., Wire]
) -> None:
    account = await make_account("admin")
    recorded = wire()
    client = PublicApiClient(facade.base_url, account.email, account.password, session=recorded.session)

    replies = await asyncio.gather(*(client.request("GET", ME) for _ in range(5)))  # concurrent
    assert all(status == 200 and body["user_id"] == account.user_id for status, body in replies)
    new_key = {"name": "sdk", "permissions": ["geofences:read"], "environment": "test"}
    status, created = await client.request("POST", "/api/v1/api-keys", json=new_key)
    assert status == 201 and created["key"].startswith("sf_test_")
    status, body = await client.request("DELETE", f"/api/v1/api-keys/{created['id']}")
    assert (status, body) == (204, None)

    assert recorded.calls() == [
        ("POST", LOGIN, 200),
        *[("GET", ME, 200)] * 5,
        ("POST", "/api/v1/api-keys", 201),
        ("DELETE", f"/api/v1/api-keys/{created['id']}", 204),
    ]
    assert len({e.authorization for e in recorded.seen[1:]}) == 1  # one access token throughout


async def test_the_token_is_refreshed_shortly_before_it_expires(
    facade: Facade, authsvc: Running, make_account: AccountFactory, wire: Callable[..., Wire]
) -> None:
    account = await make_account()
    recorded, clock = wire(), Stopwatch()
    client = PublicApiClient(
        facade.base_url, account.email, account.password, session=recorded.session, clock=clock
    )
    assert (await client.request("GET", ME))[0] == 200
    lifetime = authsvc.settings.access_token_ttl_seconds

    clock.now += lifetime - 61  # 61 s left: more than the 60 s margin
    assert (await client.request("GET", ME))[0] == 200
    clock.now += 2  # 59 s left: renewed before the call
    assert (await client.request("GET", ME))[0] == 200

    assert recorded.calls() == [
        ("POST", LOGIN, 200),
        ("GET", ME, 200),
        ("GET", ME, 200),
        ("POST", REFRESH, 200),
        ("GET", ME, 200),
    ]
    first, _, last = (e.authorization for e in recorded.seen if e.path == ME)
    assert first != last


async def test_token_expired_renews_once_and_repeats_the_call(
    facade: Facade, authsvc: Running, make_account: AccountFactory, wire: Callable[..., Wire]
) -> None:
    account = await make_account()
    recorded = wire()
    client = PublicApiClient(facade.base_url, account.email, account.password, session=recorded.session)
    assert (await client.request("GET", ME))[0] == 200

    # The server's clock runs ahead of the client's: the client thinks its token is fresh.
    assert isinstance(authsvc.clock, FakeClock)
    authsvc.clock.advance(authsvc.settings.access_token_ttl_seconds + authsvc.settings.jwt_leeway_seconds + 1)
    status, body = await client.request("GET", ME)
    assert status == 200 and body["user_id"] == account.user_id
    assert recorded.calls()[1:] == [
        ("GET", ME, 200),
        ("GET", ME, 401),
        ("POST", REFRESH, 200),
        ("GET", ME, 200),
    ]

    # Any other 401 is the caller's: the client does not renew for it.
    token = recorded.seen[-1].authorization
    async with recorded.session.post(
        facade.base_url + "/api/v1/auth/logout", headers={"Authorization": token or ""}
    ):
        pass
    before = len(recorded.seen)
    assert await client.request("GET", ME) == (401, {"detail": "Invalid or expired token"})
    assert recorded.calls()[before:] == [("GET", ME, 401)]


async def _limited(
    start_authsvc: ServerFactory, start_facade: FacadeFactory, limit: RateLimit
) -> tuple[Facade, dict[str, str]]:
    """A facade trusting loopback's X-Forwarded-For, before an AuthService allowing `limit` logins
    per client IP; and the headers of a client IP of the test's own."""
    running = await start_authsvc(login_rate_limit=limit)
    facade = await start_facade(f"127.0.0.1:{running.port}", trusted_proxies=parse_networks("127.0.0.1"))
    return facade, {"X-Forwarded-For": unique_client_ip()}


async def test_429_is_retried_after_the_retry_after_the_facade_sent(
    start_authsvc: ServerFactory,
    start_facade: FacadeFactory,
    make_account: AccountFactory,
    wire: Callable[..., Wire],
) -> None:
    facade, client_ip = await _limited(start_authsvc, start_facade, RateLimit(1, 2))
    account = await make_account()
    recorded, sleep = wire(client_ip), Sleeper(really=True)
    async with recorded.session.post(
        facade.base_url + LOGIN, json={"email": account.email, "password": account.password}
    ) as first:
        assert first.status == 200  # the one login this IP may make for 2 s

    client = PublicApiClient(
        facade.base_url, account.email, account.password, session=recorded.session, sleep=sleep
    )
    status, body = await client.request("GET", ME)
    assert status == 200 and body["user_id"] == account.user_id
    assert recorded.calls() == [
        ("POST", LOGIN, 200),
        ("POST", LOGIN, 429),
        ("POST", LOGIN, 200),
        ("GET", ME, 200),
    ]
    refused = recorded.seen[1]
    assert refused.retry_after is not None
    assert sleep.waits == [float(refused.retry_after)]


async def test_429_gives_up_after_the_bounded_attempts(
    start_authsvc: ServerFactory,
    start_facade: FacadeFactory,
    make_account: AccountFactory,
    wire: Callable[..., Wire],
) -> None:
    facade, client_ip = await _limited(start_authsvc, start_facade, RateLimit(1, 60))
    account = await make_account()
    recorded, sleep = wire(client_ip), Sleeper()
    async with recorded.session.post(
        facade.base_url + LOGIN, json={"email": account.email, "password": account.password}
    ) as first:
        assert first.status == 200

    client = PublicApiClient(
        facade.base_url,
        account.email,
        account.password,
        session=recorded.session,
        sleep=sleep,
        max_attempts=3,
    )
    assert await client.request("GET", ME) == (429, {"detail": "Rate limit exceeded"})
    assert recorded.calls()[1:] == [("POST", LOGIN, 429)] * 3  # and never the call itself
    assert sleep.waits == [float(e.retry_after or "nan") for e in recorded.seen[1:3]]

    # A Retry-After beyond what the caller will wait is returned at once.
    impatient = PublicApiClient(
        facade.base_url,
        account.email,
        account.password,
        session=recorded.session,
        sleep=sleep,
        max_retry_after=30,
    )
    before, waits = len(recorded.seen), len(sleep.waits)
    assert (await impatient.request("GET", ME))[0] == 429
    assert recorded.calls()[before:] == [("POST", LOGIN, 429)] and len(sleep.waits) == waits


async def test_503_backs_off_exponentially_with_full_jitter_then_gives_up(
    start_facade: FacadeFactory, closed_port: int, wire: Callable[..., Wire]
) -> None:
    facade = await start_facade(f"127.0.0.1:{closed_port}", call_timeout_seconds=1)  # AuthService down
    recorded, sleep = wire(), Sleeper()
    client = PublicApiClient(
        facade.base_url,
        "a@example.com",
        "password",
        session=recorded.session,
        sleep=sleep,
        random=_sequence(0.9, 0.1, 0.5, 0.99),
        max_attempts=5,
        backoff_base=0.5,
        backoff_cap=1.5,
    )
    assert await client.request("GET", ME) == (503, {"detail": "Service unavailable"})
    assert recorded.calls() == [("POST", LOGIN, 503)] * 5
    # random() x min(cap, base x 2^(n-1)): ceilings 0.5, 1, 2 -> 1.5 (capped), 4 -> 1.5.
    assert sleep.waits == pytest.approx([0.9 * 0.5, 0.1 * 1.0, 0.5 * 1.5, 0.99 * 1.5])


async def test_login_refresh_and_logout_on_demand(
    facade: Facade, make_account: AccountFactory, wire: Callable[..., Wire]
) -> None:
    account = await make_account()
    recorded = wire()
    client = PublicApiClient(facade.base_url, account.email, account.password, session=recorded.session)
    assert await client.logout() is None  # no session yet: nothing is sent

    status, pair = await client.login()
    assert status == 200 and pair["token_type"] == "Bearer"
    assert (await client.request("GET", ME))[0] == 200
    status, renewed = await client.refresh()
    assert status == 200 and renewed["access_token"] != pair["access_token"]
    assert (await client.request("GET", ME))[0] == 200
    secrets = [pair["access_token"], pair["refresh_token"], renewed["access_token"], renewed["refresh_token"]]
    assert not any(secret in f"{client!r} {client}" for secret in [*secrets, account.password])

    assert await client.logout() == (204, None)
    assert (await facade.call("GET", ME, token=renewed["access_token"])).status == 401  # session over
    assert (await client.request("GET", ME))[0] == 200  # a new login
    assert await client.logout() == (204, None)
    assert await client.logout() is None

    assert recorded.calls() == [
        ("POST", LOGIN, 200),
        ("GET", ME, 200),
        ("POST", REFRESH, 200),
        ("GET", ME, 200),
        ("POST", LOGOUT, 204),
        ("POST", LOGIN, 200),
        ("GET", ME, 200),
        ("POST", LOGOUT, 204),
    ]
    sent = [e.authorization for e in recorded.seen]
    assert sent[1] == f"Bearer {pair['access_token']}"
    assert sent[3] == sent[4] == f"Bearer {renewed['access_token']}"
    assert sent[6] == sent[7] not in sent[:5]


async def test_logout_renews_an_expired_access_token_to_end_its_session(
    facade: Facade, authsvc: Running, make_account: AccountFactory, wire: Callable[..., Wire]
) -> None:
    account = await make_account()
    recorded = wire()
    client = PublicApiClient(facade.base_url, account.email, account.password, session=recorded.session)
    assert (await client.login())[0] == 200

    assert isinstance(authsvc.clock, FakeClock)
    authsvc.clock.advance(authsvc.settings.access_token_ttl_seconds + authsvc.settings.jwt_leeway_seconds + 1)
    assert await client.logout() == (204, None)

    assert recorded.calls() == [
        ("POST", LOGIN, 200),
        ("POST", LOGOUT, 401),  # "Token expired": the session would outlive it
        ("POST", REFRESH, 200),
        ("POST", LOGOUT, 204),
    ]
    renewed = recorded.seen[-1].authorization
    assert renewed is not None
    assert (await facade.call("GET", ME, headers={"Authorization": renewed})).status == 401


async def test_a_changed_password_is_the_one_the_client_logs_in_with_next(
    facade: Facade, make_account: AccountFactory, wire: Callable[..., Wire]
) -> None:
    account = await make_account()
    recorded = wire()
    client = PublicApiClient(facade.base_url, account.email, account.password, session=recorded.session)
    weak = await client.change_password("password1234567")
    assert weak == (400, {"detail": "Password is one of the most commonly used passwords"})
    assert await client.change_password("a meadow of quiet copper bells") == (204, None)
    assert await client.logout() == (204, None)
    assert (await client.request("GET", ME))[0] == 200  # logged in again, with the new password
    assert recorded.calls()[-2:] == [("POST", LOGIN, 200), ("GET", ME, 200)]
    old = await facade.call("POST", LOGIN, json_body={"email": account.email, "password": account.password})
    assert old.status == 401
    with pytest.raises(RuntimeError, match="API key"):
        await PublicApiClient(facade.base_url, api_key="sf_test_x").change_password("whatever it is")


async def test_an_api_key_goes_on_every_call_and_a_401_is_the_callers(
    facade: Facade, make_account: AccountFactory, wire: Callable[..., Wire]
) -> None:
    account = await make_account("admin")
    token = (await facade.login(account.email, account.password))["access_token"]
    key = await facade.create_api_key(token, ["geofences:read"])
    recorded = wire()
    client = PublicApiClient(facade.base_url, api_key=key["key"], session=recorded.session)

    status, me = await client.request("GET", ME)
    assert status == 200 and me["kind"] == "api_key" and me["api_key_id"] == key["id"]
    with pytest.raises(RuntimeError, match="API key"):
        await client.login()
    with pytest.raises(RuntimeError, match="API key"):
        await client.refresh()
    assert await client.logout() is None
    assert key["key"] not in f"{client!r} {client}"

    assert (await facade.call("DELETE", f"/api/v1/api-keys/{key['id']}", token=token)).status == 204
    status, refused = await client.request("GET", ME)
    assert status == 401 and isinstance(refused["detail"], str)
    assert recorded.calls() == [("GET", ME, 200), ("GET", ME, 401)]  # never a login
    assert {e.authorization for e in recorded.seen} == {f"Bearer {key['key']}"}


async def test_login_under_the_login_rate_limit(
    start_authsvc: ServerFactory,
    start_facade: FacadeFactory,
    make_account: AccountFactory,
    wire: Callable[..., Wire],
) -> None:
    """The public doc: 5 logins a minute per IP, then 429 with Retry-After. login() waits for a
    Retry-After of at most max_retry_after and sends again (within max_attempts); a longer one
    is returned at once."""
    facade, client_ip = await _limited(start_authsvc, start_facade, RateLimit(1, 2))
    account = await make_account()
    recorded, sleep = wire(client_ip), Sleeper(really=True)
    credentials = {"email": account.email, "password": account.password}
    async with recorded.session.post(facade.base_url + LOGIN, json=credentials) as first:
        assert first.status == 200  # the one login this IP may make for 2 s

    def client(**options: Any) -> PublicApiClient:
        return PublicApiClient(
            facade.base_url, account.email, account.password, session=recorded.session, sleep=sleep, **options
        )

    assert await client(max_retry_after=0.5).login() == (429, {"detail": "Rate limit exceeded"})
    assert sleep.waits == []
    status, pair = await client().login()
    assert status == 200 and pair["token_type"] == "Bearer"
    assert recorded.calls() == [
        ("POST", LOGIN, 200),
        ("POST", LOGIN, 429),
        ("POST", LOGIN, 429),
        ("POST", LOGIN, 200),
    ]
    assert sleep.waits == [float(recorded.seen[2].retry_after or "nan")]


async def test_the_client_logs_in_to_a_chosen_workspace_and_switches_its_session(
    facade: Facade, authsvc: Running, make_account: AccountFactory, wire: Callable[..., Wire]
) -> None:
    home, other = await make_account("admin"), await make_account("admin")
    await authsvc.services.users.add_to_workspace(home.email, "viewer", other.workspace)
    recorded = wire()
    client = PublicApiClient(
        facade.base_url, home.email, home.password, workspace_id=other.workspace_id, session=recorded.session
    )
    assert (await client.request("GET", ME))[1]["workspace_id"] == other.workspace_id
    stranger = await make_account("admin")
    refused = await client.switch_workspace(stranger.workspace_id)
    assert refused[0] == 403
    assert (await client.request("GET", ME))[1]["workspace_id"] == other.workspace_id  # tokens kept
    status, _ = await client.switch_workspace(home.workspace_id)
    assert status == 200
    assert (await client.request("GET", ME))[1]["workspace_id"] == home.workspace_id
    await client.logout()
    assert (await client.request("GET", ME))[1]["workspace_id"] == home.workspace_id  # logs in there now
    assert [c for c in recorded.calls() if c[1] != ME] == [
        ("POST", LOGIN, 200),
        ("POST", "/api/v1/auth/switch-workspace", 403),
        ("POST", "/api/v1/auth/switch-workspace", 200),
        ("POST", LOGOUT, 204),
        ("POST", LOGIN, 200),
    ]
    await client.close()
