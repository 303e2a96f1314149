"""The Envoy config docs/envoy.md ships is a valid Envoy bootstrap (read with Envoy's own protos),
its ext_authz filter talks HTTP/2 to AuthService, and the checks its routes describe behave as the
page says against a real AuthService (no Envoy binary installs here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.extensions.filters.http.ext_authz.v3 import ext_authz_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2  # noqa: F401  (its "@type" is in the config)
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2
from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2, external_auth_pb2_grpc
from google.protobuf import json_format

from authsvc.v1 import auth_pb2
from tests.conftest import AccountFactory, Running, ServerFactory
from tests.support.clock import FakeClock
from tests.support.grpc_client import bearer

DOC = Path(__file__).parents[2] / "docs" / "envoy.md"
AuthzPerRoute = ext_authz_pb2.ExtAuthzPerRoute
PLANS = 'default = "free"\n\n[plans.free]\nrequests_per_minute = 1000\n'


def _documented_bootstrap() -> bootstrap_pb2.Bootstrap:
    section = DOC.read_text().split("## Envoy\n", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None
    return json_format.ParseDict(yaml.safe_load(block.group(1)), bootstrap_pb2.Bootstrap())


def _unpacked(message: Any, into: Any) -> Any:
    assert message.Unpack(into), message.type_url
    return into


def _manager(bootstrap: bootstrap_pb2.Bootstrap) -> http_connection_manager_pb2.HttpConnectionManager:
    (listener,) = bootstrap.static_resources.listeners
    (chain,) = listener.filter_chains
    (network_filter,) = chain.filters
    return _unpacked(network_filter.typed_config, http_connection_manager_pb2.HttpConnectionManager())


def test_the_documented_config_is_an_envoy_bootstrap_asking_authsvc_over_http2() -> None:
    bootstrap = _documented_bootstrap()
    manager = _manager(bootstrap)
    names = [f.name for f in manager.http_filters]
    assert names == ["envoy.filters.http.ext_authz", "envoy.filters.http.router"]  # checked before routing
    authz = _unpacked(manager.http_filters[0].typed_config, ext_authz_pb2.ExtAuthz())
    assert authz.grpc_service.envoy_grpc.cluster_name == "authsvc"
    assert not authz.failure_mode_allow and authz.encode_raw_headers
    assert authz.status_on_error.code == 503

    clusters = {c.name: c for c in bootstrap.static_resources.clusters}
    options = clusters["authsvc"].typed_extension_protocol_options[
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]
    protocol = _unpacked(options, http_protocol_options_pb2.HttpProtocolOptions())
    assert protocol.explicit_http_config.HasField("http2_protocol_options")  # gRPC needs HTTP/2
    endpoint = clusters["authsvc"].load_assignment.endpoints[0].lb_endpoints[0].endpoint
    assert endpoint.address.socket_address.port_value == 50051  # AUTHSVC_GRPC_ADDRESS's default port


def _route_checks() -> dict[str, dict[str, str] | None]:
    """Each documented route's context extensions; None where the route skips the check."""
    routes = _manager(_documented_bootstrap()).route_config.virtual_hosts[0].routes
    checks: dict[str, dict[str, str] | None] = {}
    for route in routes:
        method = next((h.string_match.exact for h in route.match.headers if h.name == ":method"), "*")
        per_route = _unpacked(route.typed_per_filter_config["envoy.filters.http.ext_authz"], AuthzPerRoute())
        key = f"{method} {route.match.prefix}"
        checks[key] = None if per_route.disabled else dict(per_route.check_settings.context_extensions)
    return checks


@pytest.fixture
async def metered(start_authsvc: ServerFactory, tmp_path: Path) -> Running:
    plans = tmp_path / "plans.toml"
    plans.write_text(PLANS)
    clock = FakeClock()
    clock.advance(61 - clock.now().timestamp() % 60)
    return await start_authsvc(clock, plans_file=plans)


async def test_the_documented_routes_check_what_the_page_says(
    metered: Running, make_account: AccountFactory
) -> None:
    checks = _route_checks()
    assert checks == {
        "* /healthz": None,
        "GET /geofences": {"permissions": "geofences:read"},
        "* /geofences": {"permissions": "geofences:write", "cost": "5"},
    }
    account = await make_account("admin")
    login = await metered.stub.Login(auth_pb2.LoginRequest(email=account.email, password=account.password))
    request = auth_pb2.CreateApiKeyRequest(
        name="reader", permissions=["geofences:read"], environment=auth_pb2.ENVIRONMENT_LIVE
    )
    reader = (await metered.stub.CreateApiKey(request, metadata=bearer(login.access_token))).secret

    async with grpc.aio.insecure_channel(f"127.0.0.1:{metered.port}") as channel:
        envoy = external_auth_pb2_grpc.AuthorizationStub(channel)

        async def check(route: str, token: str) -> external_auth_pb2.CheckResponse:
            http = attribute_context_pb2.AttributeContext.HttpRequest()
            http.header_map.headers.add(key="authorization", raw_value=f"Bearer {token}".encode())
            attributes = attribute_context_pb2.AttributeContext(
                request=attribute_context_pb2.AttributeContext.Request(http=http),
                context_extensions=checks[route] or {},
            )
            return await envoy.Check(external_auth_pb2.CheckRequest(attributes=attributes))

        read = await check("GET /geofences", reader)
        assert read.HasField("ok_response")
        limits = {o.header.key: o.header.value for o in read.ok_response.response_headers_to_add}
        assert '"workspace-minute";r=999' in limits["ratelimit"]  # AUTHSVC_ENVOY_CHECK_COST: 1
        write = await check("* /geofences", reader)
        assert write.denied_response.status.code == 403
        admin = await check("* /geofences", login.access_token)  # an admin holds geofences:write
        limits = {o.header.key: o.header.value for o in admin.ok_response.response_headers_to_add}
        assert '"workspace-minute";r=994' in limits["ratelimit"]  # the route's cost: 5
