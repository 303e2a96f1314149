"""GET /metrics: the facade's own Prometheus metrics, by route template, with no secret in them."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import AccountFactory, Running
from tests.facade.conftest import FacadeFactory


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _requests(method: str, route: str, status: int) -> tuple[str, frozenset[tuple[str, str]]]:
    labels = {"method": method, "route": route, "status": str(status)}
    return ("http_requests_total", frozenset(labels.items()))


async def test_requests_are_counted_and_timed_by_route_without_secrets(
    start_facade: FacadeFactory, authsvc: Running, make_account: AccountFactory
) -> None:
    facade = await start_facade(f"127.0.0.1:{authsvc.port}")  # its own: counts start at zero
    account = await make_account("admin")
    pair = await facade.login(account.email, account.password)
    token = pair["access_token"]
    key = await facade.call(
        "POST",
        "/api/v1/api-keys",
        token=token,
        json_body={"name": "m", "permissions": ["geofences:read"], "environment": "test"},
    )
    for _ in range(3):
        assert (await facade.call("GET", "/api/v1/auth/me", token=token)).status == 200
    assert (await facade.call("GET", "/api/v1/auth/me", token=key.json["key"] + "x")).status == 401
    assert (await facade.call("DELETE", f"/api/v1/api-keys/{key.json['id']}", token=token)).status == 204
    assert (await facade.call("GET", f"/no/such/{key.json['key']}")).status == 404
    assert (await facade.call("PROPFIND", "/api/v1/auth/me")).status == 405

    reply = await facade.call("GET", "/metrics")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain; version=")
    text = reply.raw.decode()
    samples = _samples(text)

    assert samples[_requests("POST", "/api/v1/auth/login", 200)] == 1
    assert samples[_requests("POST", "/api/v1/api-keys", 201)] == 1
    assert samples[_requests("GET", "/api/v1/auth/me", 200)] == 3
    assert samples[_requests("GET", "/api/v1/auth/me", 401)] == 1
    assert samples[_requests("DELETE", "/api/v1/api-keys/{id}", 204)] == 1  # the template, not the id
    assert samples[_requests("GET", "unmatched", 404)] == 1
    assert samples[_requests("other", "unmatched", 405)] == 1
    me_seconds = (
        "http_request_duration_seconds_count",
        frozenset({("method", "GET"), ("route", "/api/v1/auth/me")}),
    )
    assert samples[me_seconds] == 4
    assert any(name == "process_resident_memory_bytes" for name, _ in samples)

    for secret in (
        account.password,
        token,
        pair["refresh_token"],
        key.json["key"],
        key.json["id"],
        "/no/such",
    ):
        assert secret not in text
