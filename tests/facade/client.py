"""A small HTTP client for the facade: real sockets, the whole reply read before returning."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy


@dataclass
class Reply:
    status: int
    headers: CIMultiDictProxy[str]
    raw: bytes

    @property
    def json(self) -> Any:
        assert self.headers.get("Content-Type", "").startswith("application/json"), self.headers
        return json.loads(self.raw)

    @property
    def detail(self) -> str:
        body = self.json
        assert isinstance(body, dict) and list(body) == ["detail"], body
        assert isinstance(body["detail"], str)
        return body["detail"]


@dataclass
class Facade:
    base_url: str
    session: aiohttp.ClientSession

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json_body: Any = None,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """Sends one request; `token` becomes `Authorization: Bearer <token>`."""
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if json_body is not None:
            data = json.dumps(json_body)
            sent.setdefault("Content-Type", "application/json")
        async with self.session.request(method, self.base_url + path, data=data, headers=sent) as response:
            return Reply(response.status, response.headers, await response.read())

    async def login(self, email: str, password: str) -> dict[str, Any]:
        reply = await self.call(
            "POST", "/api/v1/auth/login", json_body={"email": email, "password": password}
        )
        assert reply.status == 200, reply.raw
        assert reply.headers["Cache-Control"] == "no-store"
        body: dict[str, Any] = reply.json
        return body

    async def create_api_key(
        self, token: str, permissions: list[str], environment: str = "test", name: str = "test key"
    ) -> dict[str, Any]:
        """A new key (201), its secret under "key"."""
        body = {"name": name, "permissions": permissions, "environment": environment}
        reply = await self.call("POST", "/api/v1/api-keys", token=token, json_body=body)
        assert reply.status == 201, reply.raw
        key: dict[str, Any] = reply.json
        return key
