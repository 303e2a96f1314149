"""A client of the public REST API that follows the public doc's best practices.

    async with PublicApiClient("https://auth.example.com", email, password) as api:
        status, body = await api.request("GET", "/api/v1/auth/me")

    async with PublicApiClient("https://auth.example.com", api_key=os.environ["API_KEY"]) as api:
        ...

With email and password: one login, then the access token is reused until shortly before it
expires and renewed with the refresh token (logging in again when the refresh token is refused
or may have been used up); a 401 "Token expired" renews it once and repeats the call. `login()`,
`refresh()` and `logout()` do the same on demand; `change_password()` changes it and logs in with the
new one from then on; `workspace_id=` picks the workspace logins go to, `switch_workspace()` moves
the session to another. With an API key: the key goes on every call
as is, and there is no session. 429 is retried after its Retry-After, 503 (and 502/504 of a call
safe to send again) after an exponential backoff with full jitter, both a bounded number of
times; any other answer is the caller's. One connection pool serves every call. Connection errors
and timeouts are raised (`aiohttp.ClientError`, `TimeoutError`): whether a POST reached the server
is then unknown, so sending it again is the caller's decision. No token, key or password is ever
logged or shown in a repr.
"""

from __future__ import annotations

import asyncio
import random as _random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import aiohttp

from authsvc.domain.errors import DEFAULT_DETAIL, ErrorCode

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
Random = Callable[[], float]
Reply = tuple[int, Any]

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
PASSWORD = "/api/v1/auth/password"
SWITCH = "/api/v1/auth/switch-workspace"
TOKEN_EXPIRED = DEFAULT_DETAIL[ErrorCode.TOKEN_EXPIRED]  # the public doc's 401 text
_SECONDS = re.compile(r"[0-9]{1,9}")
# Methods that change nothing, or the same thing however often they are sent (RFC 9110 §9.2.2).
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Refresh answers that prove the refresh token was not used: rate limited before the rotation,
# or AuthService not reached (the facade's 503).
_REFRESH_NOT_USED = frozenset({429, 503})


@dataclass(frozen=True)
class _Tokens:
    access: str = field(repr=False)
    refresh: str = field(repr=False)
    renew_at: float  # on the client's clock


class _Refused(Exception):
    """Login or refresh failed for good: the caller gets that answer."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply[0])  # the status only: the body is never put in an error
        self.reply = reply


class PublicApiClient:
    """Give `email` and `password`, or `api_key` (a `ValueError` otherwise).

    `clock` (seconds, monotonic), `sleep` and `random` (uniform in [0, 1)) are injectable so
    tests can move time and record waits.

    The access token is renewed once less than `refresh_margin` seconds, or a tenth of its
    lifetime if that is less, remain. `max_attempts` bounds the sends of each request, login and
    refresh, retries included; the n-th retry of a 503, 502 or 504 (or of a 429 without a usable
    Retry-After) waits `random() * min(backoff_cap, backoff_base * 2**(n-1))` seconds. A
    Retry-After above `max_retry_after` is not waited for: the 429 is returned at once.
    """

    def __init__(
        self,
        base_url: str,
        email: str | None = None,
        password: str | None = None,
        *,
        api_key: str | None = None,
        workspace_id: str | None = None,
        session: aiohttp.ClientSession | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        random: Random = _random.random,
        max_attempts: int = 4,
        refresh_margin: float = 60.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        max_retry_after: float = 300.0,
        timeout: float = 10.0,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        credentials: dict[str, str] | None = None
        if api_key is not None:
            if email is not None or password is not None:
                raise ValueError("PublicApiClient takes an api_key or email and password, not both")
            if not api_key:
                raise ValueError("api_key is empty")
        elif email is None or password is None:
            raise ValueError("PublicApiClient needs email and password, or an api_key")
        else:
            credentials = {"email": email, "password": password}
            if workspace_id:
                credentials["workspace_id"] = workspace_id
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._credentials = credentials
        self._session = session
        self._owns_session = session is None
        self._clock, self._sleep, self._random = clock, sleep, random
        self._max_attempts = max_attempts
        self._refresh_margin = refresh_margin
        self._backoff_base, self._backoff_cap = backoff_base, backoff_cap
        self._max_retry_after = max_retry_after
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._tokens: _Tokens | None = None
        self._renewing = asyncio.Lock()

    def __repr__(self) -> str:  # never a credential or token
        mode = "api_key" if self._api_key is not None else "email/password"
        return f"<PublicApiClient {self._base_url} ({mode})>"

    async def request(self, method: str, path: str, json: Any = None) -> Reply:
        """`(status, body)`: the JSON body, or None when there is none (204)."""
        if self._api_key is not None:  # no session to renew: every 401 is the caller's
            return await self._send(method, path, json, self._api_key)
        try:
            token = await self._access_token()
            status, body = await self._send(method, path, json, token)
            if status == 401 and _detail(body) == TOKEN_EXPIRED:  # our clock ran slow: renew once
                status, body = await self._send(method, path, json, await self._access_token(stale=token))
        except _Refused as refused:
            return refused.reply
        return status, body

    async def login(self) -> Reply:
        """Logs in now; a 200 replaces the tokens (the previous session is not ended: see
        `logout`). The login's `(status, body)`: the body holds the tokens, never log it.
        `RuntimeError` for a client with an API key."""
        credentials = self._login_body("login")
        async with self._renewing:
            return await self._exchange(LOGIN, credentials)

    async def refresh(self) -> Reply:
        """Renews the tokens now with the refresh token, or logs in when there is none; that
        call's `(status, body)`. After a refusal (401) or an answer that does not show the
        refresh token unused (anything but 200, 429 and 503) the tokens are forgotten: the next
        call logs in. `RuntimeError` for a client with an API key."""
        credentials = self._login_body("refresh")
        async with self._renewing:
            tokens = self._tokens
            return await (self._exchange(LOGIN, credentials) if tokens is None else self._refresh(tokens))

    async def logout(self) -> Reply | None:
        """Ends the session: POSTs the logout with the access token (renewed first if the server
        says it expired), then forgets the tokens whatever the answer, so the next call logs in.
        The logout's `(status, body)` (204, None when it worked), or None without a session
        (always, for a client with an API key)."""
        async with self._renewing:
            tokens = self._tokens
            if tokens is None:
                return None
            try:
                reply = await self._send("POST", LOGOUT, None, tokens.access)
                if reply[0] == 401 and _detail(reply[1]) == TOKEN_EXPIRED:
                    # An expired access token cannot end its session, whose refresh token would
                    # stay valid on the server (30 days by default): renew once and repeat.
                    if (await self._refresh(tokens))[0] == 200 and self._tokens is not None:
                        reply = await self._send("POST", LOGOUT, None, self._tokens.access)
                return reply
            finally:
                self._tokens = None

    async def change_password(self, new_password: str) -> Reply:
        """Changes the account's password, proving the one the client was given; on 204 the client
        logs in with `new_password` from then on. Its own session goes on; every other session of
        the user ends. The call's `(status, body)`: 400 with the policy's reason for a weak
        password. `RuntimeError` for a client with an API key."""
        credentials = self._login_body("change_password")
        body = {"current_password": credentials["password"], "new_password": new_password}
        reply = await self.request("POST", PASSWORD, body)
        if reply[0] == 204:
            self._credentials = {**credentials, "password": new_password}
        return reply

    async def switch_workspace(self, workspace_id: str) -> Reply:
        """Moves the session to another of the user's workspaces (POST /api/v1/auth/switch-workspace
        with the refresh token; logs in there when there is no session): a 200 replaces the tokens,
        and later logins go to that workspace too. The call's `(status, body)`: 403 when the user
        is no member of it, the tokens kept. As after a refresh, an answer that does not show the
        refresh token unused forgets the tokens. `RuntimeError` for a client with an API key."""
        credentials = {**self._login_body("switch_workspace"), "workspace_id": workspace_id}
        async with self._renewing:
            tokens = self._tokens
            if tokens is None:
                reply = await self._exchange(LOGIN, credentials)
            else:
                self._tokens = None
                body = {"refresh_token": tokens.refresh, "workspace_id": workspace_id}
                reply = await self._exchange(SWITCH, body)
                if reply[0] in _REFRESH_NOT_USED or reply[0] == 403:  # the token was not used
                    self._tokens = tokens
            if reply[0] == 200:
                self._credentials = credentials
            return reply

    def _login_body(self, action: str) -> dict[str, str]:
        if self._credentials is None:
            raise RuntimeError(f"{action}() needs email and password: this client uses an API key")
        return self._credentials

    async def _access_token(self, stale: str | None = None) -> str:
        async with self._renewing:  # concurrent calls wait for one renewal instead of racing
            tokens = self._tokens
            if tokens is not None and tokens.access != stale and self._clock() < tokens.renew_at:
                return tokens.access
            if tokens is not None:
                renewed = await self._refresh(tokens)
                if renewed[0] != 401:  # rate limited, unavailable...: the caller's answer, no login
                    return _access_token_of(renewed)
            return _access_token_of(await self._exchange(LOGIN, self._login_body("login")))

    async def _refresh(self, tokens: _Tokens) -> Reply:
        # Forgotten until the answer shows the refresh token unused: if the server may have
        # rotated it (a 502 or 504 from a gateway, a 500, a timeout), sending it again later looks
        # like theft to reuse detection, which revokes the whole session. Logging in is cheaper.
        self._tokens = None
        reply = await self._exchange(REFRESH, {"refresh_token": tokens.refresh})
        if reply[0] in _REFRESH_NOT_USED:
            self._tokens = tokens
        return reply

    async def _exchange(self, path: str, body: dict[str, str]) -> Reply:
        """Login or refresh; a 200's pair replaces the tokens."""
        asked_at = self._clock()
        status, pair = await self._send("POST", path, body, None)
        if status == 200:
            lifetime = float(pair["expires_in"])
            renew_at = asked_at + lifetime - min(self._refresh_margin, lifetime / 10)
            self._tokens = _Tokens(pair["access_token"], pair["refresh_token"], renew_at)
        return status, pair

    async def _send(self, method: str, path: str, json: Any, token: str | None) -> Reply:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        resendable = _resendable(method, path)
        session = self._client_session()
        attempt = 1
        while True:
            async with session.request(method, self._base_url + path, json=json, headers=headers) as response:
                status = response.status
                body = await response.json() if response.content_type == "application/json" else None
                retry_after = response.headers.get("Retry-After")
            wait = self._wait(status, retry_after, attempt, resendable)
            if wait is None:
                return status, body
            await self._sleep(wait)
            attempt += 1

    def _wait(self, status: int, retry_after: str | None, attempt: int, resendable: bool) -> float | None:
        """Seconds to wait before sending again, or None to return this answer."""
        if attempt >= self._max_attempts:
            return None
        if status == 429 and retry_after is not None and _SECONDS.fullmatch(retry_after.strip()):
            seconds = float(retry_after)  # delta-seconds; an HTTP-date falls back to the backoff
            return seconds if seconds <= self._max_retry_after else None
        # 429 and the facade's 503 say the call was not carried out; a gateway's 502 or 504 may
        # come after it was, so only a call that is safe to repeat is sent again.
        if status in (429, 503) or (status in (502, 504) and resendable):
            # Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): clients that
            # failed together spread out instead of coming back together.
            return self._random() * min(self._backoff_cap, self._backoff_base * 2.0 ** (attempt - 1))
        return None

    def _client_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        """Closes the connection pool this client made (never a session it was given)."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> PublicApiClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.close()


def _resendable(method: str, path: str) -> bool:
    """Whether a 502/504 may be retried. A login sent twice only opens a second session; a
    refresh sent twice can revoke the session (see `_refresh`), other POSTs and PATCHes create or
    change things twice."""
    method = method.upper()
    return method in _IDEMPOTENT or (method == "POST" and path == LOGIN)


def _access_token_of(reply: Reply) -> str:
    status, body = reply
    if status != 200:
        raise _Refused(reply)
    return str(body["access_token"])


def _detail(body: Any) -> object:
    return body.get("detail") if isinstance(body, dict) else None
