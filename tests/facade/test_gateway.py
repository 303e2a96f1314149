"""Forward auth behind a real nginx: docs/gateways.md's configuration, in front of a small app and the
facade, in front of a real AuthService. nginx is installed when missing; if it cannot be, these
tests fail."""

from __future__ import annotations

import aiohttp
import grpc
import pytest

from tests.conftest import AccountFactory, Running
from tests.facade.client import Facade
from tests.facade.conftest import FacadeFactory
from tests.facade.scripted import Script, Scripted
from tests.support.clock import FakeClock
from tests.support.echo_app import App, call
from tests.support.nginx import Guard, NginxUnavailable, gateway_config, nginx_binary_path, running_nginx

pytestmark = pytest.mark.timeout(600)  # the first one may install nginx


@pytest.fixture(scope="session")
def nginx_binary() -> str:
    try:
        return nginx_binary_path()
    except NginxUnavailable as error:
        pytest.fail(str(error), pytrace=False)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_valid_key_reaches_the_app_with_who_it_is(
    nginx_binary: str, app: App, facade: Facade, make_account: AccountFactory, http: aiohttp.ClientSession
) -> None:
    account = await make_account("admin")
    token = (await facade.login(account.email, account.password))["access_token"]
    key = await facade.create_api_key(token, ["geofences:read"], "live", "gateway")
    guards = [
        Guard("/geofences/", facade.base_url, "geofences:read"),
        Guard("/admin/", facade.base_url, "geofences:write,workspace:admin"),
    ]
    async with running_nginx(nginx_binary, gateway_config(app.url, guards)) as nginx:
        forged = {
            "X-Auth-Subject": "someone-else",
            "X-Auth-Permissions": "workspace:admin",
            "X-Auth-Environment": "test",
            "X-Auth-Key-Name": "admin key",
        }
        reply = await call(http, f"{nginx.url}/geofences/7?near=1", headers={**_bearer(key["key"]), **forged})
        assert reply.status == 200
        assert reply.json["path"] == "/geofences/7?near=1"
        assert reply.json["identity"] == {
            "X-Auth-Subject": [key["id"]],  # the gateway's values replace the client's forgeries
            "X-Auth-Kind": ["api_key"],
            "X-Auth-User": [account.user_id],
            "X-Auth-Workspace": [account.workspace_id],
            "X-Auth-Permissions": ["geofences:read"],
            "X-Auth-Environment": ["live"],
            "X-Auth-Key-Name": ["gateway"],
        }
        assert reply.json["request_id"]  # nginx's $request_id, also sent to the facade

        # A POST is checked too (nginx asks with a GET and without the body), and its body goes on.
        posted = await call(http, f"{nginx.url}/geofences/", "POST", data=b"{}", headers=_bearer(key["key"]))
        assert posted.status == 200 and posted.json["method"] == "POST" and posted.json["body"] == "{}"

        # A user's access token holding both permissions passes /admin/, as a user.
        posing = {**_bearer(token), "X-Auth-Environment": "live", "X-Auth-Key-Name": "gateway"}
        admin = await call(http, f"{nginx.url}/admin/settings", headers=posing)
        assert admin.status == 200
        assert admin.json["identity"]["X-Auth-Environment"] == []  # a user has none: the forgery is gone
        assert admin.json["identity"]["X-Auth-Key-Name"] == []
        assert admin.json["identity"]["X-Auth-Kind"] == ["user"]
        assert admin.json["identity"]["X-Auth-Subject"] == [account.user_id]
        assert len(app.seen) == 3
    assert nginx.process.returncode is not None  # stopped with the block
    with pytest.raises(aiohttp.ClientConnectionError):
        await call(http, f"{nginx.url}/geofences/")


async def test_refusals_reach_the_client_as_the_documented_json(
    nginx_binary: str,
    app: App,
    facade: Facade,
    authsvc: Running,
    make_account: AccountFactory,
    http: aiohttp.ClientSession,
) -> None:
    account = await make_account("admin")
    pair = await facade.login(account.email, account.password)
    reader = await facade.create_api_key(pair["access_token"], ["geofences:read"], "live", "gateway")
    guards = [
        Guard("/geofences/", facade.base_url, "geofences:read"),
        Guard("/webhooks/", facade.base_url, "webhooks:write"),
    ]
    async with running_nginx(nginx_binary, gateway_config(app.url, guards)) as nginx:
        anonymous = await call(http, f"{nginx.url}/geofences/")
        assert anonymous.status == 401 and anonymous.detail == "Not authenticated"
        assert anonymous.headers["WWW-Authenticate"] == "Bearer"

        garbage = await call(http, f"{nginx.url}/geofences/", headers=_bearer("sf_live_nonsense"))
        assert garbage.status == 401 and garbage.detail == "Invalid or expired token"
        assert garbage.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')

        lacking = await call(http, f"{nginx.url}/webhooks/", "POST", headers=_bearer(reader["key"]))
        assert lacking.status == 403 and lacking.detail == "Insufficient permissions"
        assert lacking.headers["WWW-Authenticate"].startswith('Bearer error="insufficient_scope"')

        # A header gRPC cannot carry: the facade's 400 (nginx itself refuses a repeated one).
        unsendable = await call(http, f"{nginx.url}/geofences/", headers=_bearer("sf_live_é"))
        assert unsendable.status == 400 and unsendable.detail == "Malformed Authorization header"

        # An expired access token says so, so the client knows to refresh rather than log in.
        assert isinstance(authsvc.clock, FakeClock)
        authsvc.clock.advance(pair["expires_in"] + authsvc.settings.jwt_leeway_seconds + 1)
        expired = await call(http, f"{nginx.url}/geofences/", headers=_bearer(pair["access_token"]))
        assert expired.status == 401 and expired.detail == "Token expired"
        assert expired.headers["WWW-Authenticate"] == (
            'Bearer error="invalid_token", error_description="Token expired"'
        )
        assert app.seen == []  # no refused request reached the app


async def test_authsvc_trouble_is_a_503_or_a_429_never_a_bare_500(
    nginx_binary: str,
    app: App,
    start_facade: FacadeFactory,
    scripted: Scripted,
    closed_port: int,
    http: aiohttp.ClientSession,
) -> None:
    down = await start_facade(f"127.0.0.1:{closed_port}", call_timeout_seconds=1)
    limited = await start_facade(scripted.target)
    scripted.servicer.script = Script(
        grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down", (("retry-after", "7"),)
    )
    guards = [
        Guard("/down/", down.base_url, "geofences:read"),
        Guard("/limited/", limited.base_url, "geofences:read"),
        Guard("/nowhere/", f"http://127.0.0.1:{closed_port}", "geofences:read"),
    ]
    async with running_nginx(nginx_binary, gateway_config(app.url, guards)) as nginx:
        for path in ("/down/", "/nowhere/"):  # AuthService down; the facade itself down
            unavailable = await call(http, f"{nginx.url}{path}", headers=_bearer("sf_live_x"))
            assert unavailable.status == 503 and unavailable.detail == "Service unavailable", path

        limited_reply = await call(http, f"{nginx.url}/limited/", headers=_bearer("sf_live_x"))
        assert limited_reply.status == 429 and limited_reply.detail == "Rate limit exceeded"
        assert limited_reply.headers["Retry-After"] == "7"
        assert app.seen == []
