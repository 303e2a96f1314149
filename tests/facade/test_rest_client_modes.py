"""authsvc.client.rest.PublicApiClient against a scripted HTTP server, for answers the facade cannot
be made to give on demand (a gateway's 502 and 504, a refresh lost on its way back, a failed
logout): which calls are sent again, and which tokens are kept or forgotten. Also its
constructor's choices and that no secret reaches a repr or a log line.

Real sockets: the server is an aiohttp app on a free port answering from a list, in order, and
recording what it was sent."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from authsvc.client.rest import PublicApiClient
from tests.facade.test_rest_client import LOGIN, LOGOUT, ME, REFRESH, Sleeper, Stopwatch, _sequence

KEY = "sf_live_scriptedKey0123456789"
KEYS = "/api/v1/api-keys"


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def pair(n: int, expires_in: int = 3600) -> Answer:
    """The n-th token pair: access-n and refresh-n."""
    tokens = {"access_token": f"access-{n}", "refresh_token": f"refresh-{n}", "token_type": "Bearer"}
    return Answer(200, tokens | {"expires_in": expires_in})


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    authorization: str | None
    body: Any


@dataclass
class Server:
    url: str
    answers: list[Answer] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)

    def script(self, *answers: Answer) -> None:
        self.answers.extend(answers)

    def calls(self) -> list[tuple[str, str, str | None]]:
        return [(s.method, s.path, s.authorization) for s in self.seen]

    async def answer(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        self.seen.append(Seen(request.method, request.path, request.headers.get("Authorization"), body))
        answer = self.answers.pop(0)
        if answer.body is None:
            return web.Response(status=answer.status, headers=answer.headers)
        return web.json_response(answer.body, status=answer.status, headers=answer.headers)


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    served = Server("")
    app = web.Application()
    app.router.add_route("*", "/{path:.*}", served.answer)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    served.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield served
    await runner.cleanup()
    assert served.answers == [], "scripted answers left unsent"


ClientFactory = Callable[..., Awaitable[PublicApiClient]]


@pytest.fixture
async def make_client(server: Server) -> AsyncIterator[ClientFactory]:
    made: list[PublicApiClient] = []

    async def make(*credentials: str, **options: Any) -> PublicApiClient:
        client = PublicApiClient(server.url, *credentials, **options)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


def test_credentials_are_an_api_key_or_an_email_and_password() -> None:
    PublicApiClient("http://x", "a@example.com", "secret")  # positional, as before
    PublicApiClient("http://x", api_key=KEY)
    wrongs: list[dict[str, Any]] = [
        {"email": "a@example.com", "password": "secret", "api_key": KEY},
        {"email": "a@example.com", "api_key": KEY},
        {},
        {"email": "a@example.com"},
        {"api_key": ""},
    ]
    for wrong in wrongs:
        with pytest.raises(ValueError, match="api_key") as raised:
            PublicApiClient("http://x", **wrong)
        assert KEY not in str(raised.value) and "secret" not in str(raised.value)


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "delete"])
async def test_gateway_errors_are_retried_when_sending_again_is_safe(
    server: Server, make_client: ClientFactory, method: str
) -> None:
    sleep = Sleeper()
    client = await make_client(api_key=KEY, sleep=sleep, random=_sequence(0.5, 0.25))
    server.script(Answer(502), Answer(504), Answer(200, {"ok": True}))

    status, body = await client.request(method, KEYS)
    assert status == 200 and body == (None if method == "HEAD" else {"ok": True})
    assert server.calls() == [(method.upper(), KEYS, f"Bearer {KEY}")] * 3
    assert sleep.waits == [0.5 * 0.5, 0.25 * 1.0]  # the 503 backoff


async def test_a_login_is_sent_again_after_a_gateway_error(
    server: Server, make_client: ClientFactory
) -> None:
    sleep = Sleeper()
    client = await make_client("a@example.com", "secret", sleep=sleep, random=lambda: 0.5)
    server.script(Answer(504), Answer(502), pair(1))

    assert await client.login() == (200, pair(1).body)
    assert [s.path for s in server.seen] == [LOGIN] * 3 and len(sleep.waits) == 2


@pytest.mark.parametrize(("method", "status"), [("POST", 502), ("POST", 504), ("PATCH", 502), ("PATCH", 504)])
async def test_a_gateway_error_of_another_post_or_patch_is_returned(
    server: Server, make_client: ClientFactory, method: str, status: int
) -> None:
    sleep = Sleeper()
    client = await make_client(api_key=KEY, sleep=sleep)
    server.script(Answer(status, {"detail": "Bad gateway"}))

    assert await client.request(method, KEYS, json={"name": "x"}) == (status, {"detail": "Bad gateway"})
    assert len(server.seen) == 1 and sleep.waits == []


async def test_a_503_is_still_retried_for_any_method(server: Server, make_client: ClientFactory) -> None:
    client = await make_client(api_key=KEY, sleep=Sleeper())
    server.script(Answer(503), Answer(201, {"id": "k"}))

    assert await client.request("POST", KEYS, json={"name": "x"}) == (201, {"id": "k"})
    assert len(server.seen) == 2


async def test_a_refresh_lost_in_a_gateway_is_neither_sent_again_nor_reused(
    server: Server, make_client: ClientFactory
) -> None:
    """The server may have rotated the refresh token before the 502: sending it again (now or
    on the next call) would look like theft to reuse detection, which revokes the session."""
    sleep = Sleeper()
    client = await make_client("a@example.com", "secret", sleep=sleep)
    server.script(pair(1), Answer(502))
    assert (await client.login())[0] == 200
    assert (await client.refresh())[0] == 502
    assert server.seen[-1].body == {"refresh_token": "refresh-1"} and sleep.waits == []

    server.script(pair(2), Answer(200, {}))
    assert await client.request("GET", ME) == (200, {})
    assert server.calls()[2:] == [("POST", LOGIN, None), ("GET", ME, "Bearer access-2")]


async def test_a_renewal_lost_in_a_gateway_is_returned_and_the_next_call_logs_in(
    server: Server, make_client: ClientFactory
) -> None:
    clock = Stopwatch()
    client = await make_client("a@example.com", "secret", clock=clock, sleep=Sleeper())
    server.script(pair(1, expires_in=600), Answer(200, {}))
    assert (await client.request("GET", ME))[0] == 200

    clock.now += 600
    server.script(Answer(504, {"detail": "Gateway timeout"}))
    assert await client.request("GET", ME) == (504, {"detail": "Gateway timeout"})
    server.script(pair(2), Answer(200, {}))
    assert (await client.request("GET", ME))[0] == 200
    assert [s.path for s in server.seen] == [LOGIN, ME, REFRESH, LOGIN, ME]


async def test_a_rate_limited_refresh_keeps_the_tokens(server: Server, make_client: ClientFactory) -> None:
    client = await make_client("a@example.com", "secret", max_retry_after=0)
    server.script(pair(1), Answer(429, {"detail": "Rate limit exceeded"}, {"Retry-After": "5"}), pair(2))
    assert (await client.login())[0] == 200
    assert (await client.refresh())[0] == 429  # refused before any rotation: refresh-1 still good
    assert (await client.refresh())[0] == 200
    assert [s.body for s in server.seen[1:]] == [{"refresh_token": "refresh-1"}] * 2


async def test_refresh_without_a_session_logs_in_and_login_replaces_the_tokens(
    server: Server, make_client: ClientFactory
) -> None:
    client = await make_client("a@example.com", "secret")
    server.script(pair(1), pair(2), Answer(200, {}))
    assert await client.refresh() == (200, pair(1).body)
    assert await client.login() == (200, pair(2).body)
    assert (await client.request("GET", ME))[0] == 200
    assert server.calls() == [("POST", LOGIN, None), ("POST", LOGIN, None), ("GET", ME, "Bearer access-2")]
    assert server.seen[0].body == {"email": "a@example.com", "password": "secret"}


async def test_logout_forgets_the_tokens_whatever_the_answer(
    server: Server, make_client: ClientFactory
) -> None:
    client = await make_client("a@example.com", "secret")
    server.script(pair(1), Answer(500, {"detail": "Internal server error"}))
    assert (await client.login())[0] == 200
    assert await client.logout() == (500, {"detail": "Internal server error"})
    assert await client.logout() is None  # nothing left to end

    server.script(pair(2), Answer(200, {}))
    assert (await client.request("GET", ME))[0] == 200
    assert server.calls() == [
        ("POST", LOGIN, None),
        ("POST", LOGOUT, "Bearer access-1"),
        ("POST", LOGIN, None),
        ("GET", ME, "Bearer access-2"),
    ]


async def test_no_secret_is_logged_or_shown(
    server: Server, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = await make_client("a@example.com", "pw-secret")
    keyed = await make_client(api_key=KEY)
    server.script(pair(1), Answer(200, {}), pair(2), Answer(204), Answer(200, {}))
    await client.login()
    await client.request("GET", ME)
    await client.refresh()
    await client.logout()
    await keyed.request("GET", ME)

    shown = caplog.text + repr(client) + str(client) + repr(keyed) + str(keyed)
    for secret in ("pw-secret", KEY, "access-1", "refresh-1", "access-2", "refresh-2"):
        assert secret not in shown
