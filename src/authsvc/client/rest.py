"""A client of the public REST API that follows the public doc's best practices.

    async with PublicApiClient("https://auth.example.com", email, password) as api:
        status, body = await api.request("GET", "/api/v1/auth/me")

One login, then the access token is reused until shortly before it expires and renewed with the
refresh token (logging in again only when the refresh token is refused); a 401 "Token expired"
renews it once and repeats the call. 429 is retried after its Retry-After, 503 after an
exponential backoff with full jitter, both a bounded number of times; any other answer is the
caller's. One connection pool serves every call. Connection errors and timeouts are raised
(`aiohttp.ClientError`, `TimeoutError`): whether a POST reached the server is then unknown, so
sending it again is the caller's decision.
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
TOKEN_EXPIRED = DEFAULT_DETAIL[ErrorCode.TOKEN_EXPIRED]  # the public doc's 401 text
_SECONDS = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True)
class _Tokens:
    access: str = field(repr=False)
    refresh: str = field(repr=False)
    renew_at: float  # on the client's clock


class _Refused(Exception):
    """Login or refresh failed for good: the caller gets that answer."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply[0])
        self.reply = reply


class PublicApiClient:
    """`clock` (seconds, monotonic), `sleep` and `random` (uniform in [0, 1)) are injectable so
    tests can move time and record waits.

    The access token is renewed once less than `refresh_margin` seconds, or a tenth of its
    lifetime if that is less, remain. `max_attempts` bounds the sends of each request, login and
    refresh, retries included; the n-th retry of a 503 (or of a 429 without a usable
    Retry-After) waits `random() * min(backoff_cap, backoff_base * 2**(n-1))` seconds. A
    Retry-After above `max_retry_after` is not waited for: the 429 is returned at once.
    """

    def __init__(
        self,
        base_url: str,
        email: str,
        password: str,
        *,
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
        self._base_url = base_url.rstrip("/")
        self._credentials = {"email": email, "password": password}
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

    async def request(self, method: str, path: str, json: Any = None) -> Reply:
        """`(status, body)`: the JSON body, or None when there is none (204)."""
        try:
            token = await self._access_token()
            status, body = await self._send(method, path, json, token)
            if status == 401 and _detail(body) == TOKEN_EXPIRED:  # our clock ran slow: renew once
                status, body = await self._send(method, path, json, await self._access_token(stale=token))
        except _Refused as refused:
            return refused.reply
        return status, body

    async def _access_token(self, stale: str | None = None) -> str:
        async with self._renewing:  # concurrent calls wait for one renewal instead of racing
            tokens = self._tokens
            if tokens is not None and tokens.access != stale and self._clock() < tokens.renew_at:
                return tokens.access
            if tokens is not None:
                try:
                    return await self._exchange(REFRESH, {"refresh_token": tokens.refresh})
                except _Refused as refused:
                    if refused.reply[0] != 401:  # rate limited or unavailable: not a reason to log in
                        raise
                    self._tokens = None  # the session is over (logout, expiry, reuse): log in again
            return await self._exchange(LOGIN, self._credentials)

    async def _exchange(self, path: str, body: dict[str, str]) -> str:
        asked_at = self._clock()
        status, pair = await self._send("POST", path, body, None)
        if status != 200:
            raise _Refused((status, pair))
        lifetime = float(pair["expires_in"])
        renew_at = asked_at + lifetime - min(self._refresh_margin, lifetime / 10)
        self._tokens = _Tokens(pair["access_token"], pair["refresh_token"], renew_at)
        return self._tokens.access

    async def _send(self, method: str, path: str, json: Any, token: str | None) -> Reply:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        session = self._client_session()
        attempt = 1
        while True:
            async with session.request(method, self._base_url + path, json=json, headers=headers) as response:
                status = response.status
                body = await response.json() if response.content_type == "application/json" else None
                retry_after = response.headers.get("Retry-After")
            wait = self._wait(status, retry_after, attempt) if attempt < self._max_attempts else None
            if wait is None:
                return status, body
            await self._sleep(wait)
            attempt += 1

    def _wait(self, status: int, retry_after: str | None, attempt: int) -> float | None:
        """Seconds to wait before sending again, or None to return this answer."""
        if status == 429 and retry_after is not None and _SECONDS.fullmatch(retry_after.strip()):
            seconds = float(retry_after)  # delta-seconds; an HTTP-date falls back to the backoff
            return seconds if seconds <= self._max_retry_after else None
        if status in (429, 503):
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


def _detail(body: Any) -> object:
    return body.get("detail") if isinstance(body, dict) else None
