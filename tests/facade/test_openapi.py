"""/openapi.json tells the truth: it names exactly the app's routes, and schemathesis, sending what
it describes and what it forbids, meets no 5xx and no answer the document does not describe."""

from __future__ import annotations

import asyncio
from typing import Any

import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from http_facade.app import create_app
from http_facade.config import Settings
from tests.conftest import AccountFactory
from tests.facade.client import Facade
from tests.facade.conftest import FacadeFactory

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
EXAMPLES_PER_PASS = 40  # x 2 modes x 2 identities: a few seconds


def _routes(app: web.Application) -> set[tuple[str, str]]:
    return {
        (route.method.lower(), route.resource.canonical) for route in app.router.routes() if route.resource
    }


async def test_document_names_exactly_the_routes(facade: Facade) -> None:
    reply = await facade.call("GET", "/openapi.json")
    assert reply.status == 200
    served = reply.json
    assert served["openapi"].startswith("3.")
    documented = {
        (method, path)
        for path, item in served["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
    }
    assert documented == _routes(create_app(Settings()))


def _public_flow(document: dict[str, Any], base_url: str, email: str, password: str) -> list[int]:
    """The public doc's flow, each reply checked against the document; returns the statuses seen."""
    schema = schemathesis.openapi.from_dict(document)
    statuses: list[int] = []

    def send(method: str, path: str, token: str = "", **extra: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        case = schema[path][method].Case(headers=headers, **extra)
        response = case.call(base_url=base_url, timeout=10)
        case.validate_response(response, checks=CHECKS)
        statuses.append(response.status_code)
        json_reply = response.headers.get("content-type", [""])[0].startswith("application/json")
        return response.json() if json_reply else None

    pair = send("POST", "/api/v1/auth/login", body={"email": email, "password": password})
    pair = send("POST", "/api/v1/auth/refresh", body={"refresh_token": pair["refresh_token"]})
    token = pair["access_token"]
    send("GET", "/api/v1/auth/me", token)
    send("GET", "/api/v1/auth/verify", token, query={"permissions": "geofences:read,api_keys:write"})
    new_key = {"name": "doc", "permissions": ["geofences:read"], "environment": "live"}
    key = send("POST", "/api/v1/api-keys", token, body=new_key)
    send("GET", "/api/v1/auth/me", key["key"])
    send("GET", "/api/v1/api-keys", token)
    send("DELETE", "/api/v1/api-keys/{id}", token, path_parameters={"id": key["id"]})
    send("GET", "/api/v1/auth/me", key["key"])  # revoked: 401
    send("POST", "/api/v1/api-keys", key["key"], body=new_key)  # 401
    send("DELETE", "/api/v1/api-keys/{id}", token, path_parameters={"id": key["id"]})  # 404
    send("GET", "/api/v1/auth/settings", token)
    send("PATCH", "/api/v1/auth/settings", token, body={"access_token_ttl_seconds": 3600})
    send("PATCH", "/api/v1/auth/settings", token, body={"access_token_ttl_seconds": 1})  # 400
    send("POST", "/api/v1/auth/logout", token)
    send("GET", "/api/v1/auth/verify", query={"permissions": "geofences:read"})  # 401
    for path in ("/healthz", "/readyz", "/.well-known/jwks.json", "/metrics", "/openapi.json"):
        send("GET", path)
    return statuses


async def test_the_public_flow_matches_the_document(
    start_facade: FacadeFactory, authsvc_with_health: str, make_account: AccountFactory
) -> None:
    facade = await start_facade(authsvc_with_health)
    account = await make_account("admin")
    document = (await facade.call("GET", "/openapi.json")).json
    statuses = await asyncio.to_thread(
        _public_flow, document, facade.base_url, account.email, account.password
    )
    assert statuses == [
        *(200, 200, 200, 204, 201, 200, 200, 204, 401, 401, 404, 200, 200, 400, 204),
        *(401, 200, 200, 200, 200, 200),
    ]


def _fuzz(document: dict[str, Any], base_url: str, headers: dict[str, str]) -> int:
    """Runs in a worker thread (schemathesis speaks blocking `requests`), so the event loop keeps
    serving the facade and AuthService meanwhile. Returns how many requests were sent."""
    schema = schemathesis.openapi.from_dict(document)
    sent = 0
    with requests.Session() as session:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @given(case=schema.as_strategy(generation_mode=mode, headers=headers))
            @settings(
                max_examples=EXAMPLES_PER_PASS,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: schemathesis.Case) -> None:
                nonlocal sent
                sent += 1
                response = case.call(base_url=base_url, session=session, timeout=10)
                case.validate_response(response, checks=CHECKS)

            check()
    return sent


async def test_fuzzing_the_document_finds_no_server_error(
    start_facade: FacadeFactory, authsvc_with_health: str, make_account: AccountFactory
) -> None:
    facade = await start_facade(authsvc_with_health)  # /readyz is 200 here: a 503 would be a finding
    account = await make_account("admin")
    document = (await facade.call("GET", "/openapi.json")).json
    # An API key holding every permission: the fuzzer reaches past authentication (and cannot log
    # its own session out, which a JWT would let it do).
    token = (await facade.login(account.email, account.password))["access_token"]
    permissions = (await facade.call("GET", "/api/v1/auth/me", token=token)).json["permissions"]
    key = await facade.call(
        "POST",
        "/api/v1/api-keys",
        token=token,
        json_body={"name": "fuzzer", "permissions": permissions, "environment": "test"},
    )
    anonymous = await asyncio.to_thread(_fuzz, document, facade.base_url, {})
    authorised = await asyncio.to_thread(
        _fuzz, document, facade.base_url, {"Authorization": f"Bearer {key.json['key']}"}
    )
    assert anonymous + authorised >= 4 * EXAMPLES_PER_PASS
