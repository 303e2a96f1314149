"""Forward auth behind a real Caddy: docs/caddy.md's Caddyfile, in front of a small app and the
facade, in front of a real AuthService. Caddy is installed by `make test` when missing; if it
cannot be, these tests fail."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.conftest import AccountFactory, ServerFactory
from tests.facade.client import Facade
from tests.facade.conftest import FacadeFactory
from tests.support.caddy import CaddyUnavailable, caddy_binary_path, running_caddy
from tests.support.clock import FakeClock
from tests.support.echo_app import App, call

pytestmark = pytest.mark.timeout(600)
PLANS = 'default = "free"\n[plans.free]\nrequests_per_minute = 1000\n'
FORGED = {
    "X-Auth-Subject": "someone-else",
    "X-Auth-Permissions": "workspace:admin",
    "X-Auth-Environment": "test",
    "X-Auth-Key-Name": "admin key",
}


@pytest.fixture(scope="session")
def caddy_binary() -> str:
    try:
        return caddy_binary_path()
    except CaddyUnavailable as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture
async def metered_facade(tmp_path: Path, start_authsvc: ServerFactory, start_facade: FacadeFactory) -> Facade:
    plans = tmp_path / "plans.toml"
    plans.write_text(PLANS)
    clock = FakeClock()
    clock.advance(61 - clock.now().timestamp() % 60)  # one minute window for the whole test
    running = await start_authsvc(clock, plans_file=plans)
    return await start_facade(f"127.0.0.1:{running.port}")


def _host(url: str) -> str:
    return urlsplit(url).netloc


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_allowed_requests_reach_the_app_with_who_they_are_and_no_forgery(
    caddy_binary: str,
    app: App,
    metered_facade: Facade,
    make_account: AccountFactory,
    http: aiohttp.ClientSession,
) -> None:
    facade = metered_facade
    account = await make_account("admin")
    token = (await facade.login(account.email, account.password))["access_token"]
    key = await facade.create_api_key(token, ["geofences:read"], "live", "gateway é")
    async with running_caddy(caddy_binary, _host(facade.base_url), _host(app.url)) as caddy:
        reply = await call(http, f"{caddy.url}/geofences/7?near=1", headers={**_bearer(key["key"]), **FORGED})
        assert reply.status == 200, reply.raw
        assert reply.json["path"] == "/geofences/7?near=1"
        assert reply.json["identity"] == {
            "X-Auth-Subject": [key["id"]],  # the facade's values, never the client's
            "X-Auth-Kind": ["api_key"],
            "X-Auth-User": [account.user_id],
            "X-Auth-Workspace": [account.workspace_id],
            "X-Auth-Permissions": ["geofences:read"],
            "X-Auth-Environment": ["live"],
            "X-Auth-Key-Name": ["gateway %C3%A9"],
        }
        # A POST is checked too (Caddy asks with a GET, without the body), and its body goes on.
        posted = await call(http, f"{caddy.url}/geofences/", "POST", data=b"{}", headers=_bearer(key["key"]))
        assert posted.status == 200 and posted.json["method"] == "POST" and posted.json["body"] == "{}"

        # A user's token on /admin (workspace:admin, cost=0): a user has no environment or key
        # name, and the client's own are gone.
        admin = await call(http, f"{caddy.url}/admin/settings", headers={**_bearer(token), **FORGED})
        assert admin.status == 200
        identity = admin.json["identity"]
        assert (identity["X-Auth-Kind"], identity["X-Auth-Subject"]) == (["user"], [account.user_id])
        assert identity["X-Auth-Environment"] == [] and identity["X-Auth-Key-Name"] == []
        assert "workspace:admin" in identity["X-Auth-Permissions"][0].split(",")
        assert len(app.seen) == 3


async def test_refusals_reach_the_client_as_the_facade_wrote_them(
    caddy_binary: str,
    app: App,
    metered_facade: Facade,
    make_account: AccountFactory,
    http: aiohttp.ClientSession,
) -> None:
    facade = metered_facade
    account = await make_account("admin")
    token = (await facade.login(account.email, account.password))["access_token"]
    reader = await facade.create_api_key(token, ["geofences:read"], "live", "reader")
    limited = await facade.call(
        "POST",
        "/api/v1/api-keys",
        token=token,
        json_body={
            "name": "limited",
            "permissions": ["geofences:read"],
            "environment": "live",
            "rate_limit": {"requests_per_minute": 2},
        },
    )
    assert limited.status == 201
    async with running_caddy(caddy_binary, _host(facade.base_url), _host(app.url)) as caddy:
        anonymous = await call(http, f"{caddy.url}/geofences/")
        assert anonymous.status == 401 and anonymous.detail == "Not authenticated"
        assert anonymous.headers["WWW-Authenticate"] == "Bearer"
        assert anonymous.headers["Content-Type"].startswith("application/json")

        garbage = await call(http, f"{caddy.url}/geofences/", headers=_bearer("sf_live_nonsense"))
        assert garbage.status == 401 and garbage.detail == "Invalid or expired token"
        assert garbage.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')

        lacking = await call(http, f"{caddy.url}/admin/", headers=_bearer(reader["key"]))
        assert lacking.status == 403 and lacking.detail == "Insufficient permissions"
        assert lacking.headers["WWW-Authenticate"].startswith('Bearer error="insufficient_scope"')

        for _ in range(2):
            ok = await call(http, f"{caddy.url}/geofences/", headers=_bearer(limited.json["key"]))
            assert ok.status == 200
        spent = await call(http, f"{caddy.url}/geofences/", headers=_bearer(limited.json["key"]))
        assert spent.status == 429 and spent.detail == "Rate limit exceeded"
        assert 1 <= int(spent.headers["Retry-After"]) <= 60
        assert '"key-minute";r=0' in spent.headers["RateLimit"]
        assert len(app.seen) == 2  # only the two admitted requests reached the app
