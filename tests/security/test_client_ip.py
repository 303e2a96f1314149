"""Who may name the client IP, and what a client is for per-IP limits (review findings 3 and 4).

Before: AuthService believed `x-forwarded-for` from any process on 127.0.0.1 (12 wrong passwords
with random forwarded addresses: 12 x 401, never 429), and counted each IPv6 address apart (12
logins from random addresses in one /64: 12 x 401).
"""

from __future__ import annotations

import random
import secrets

from authsvc.call_metadata import FORWARDED_FOR, PROXY_TOKEN
from authsvc.domain.networks import parse_networks
from authsvc.domain.rate_limits import RateLimit
from authsvc.v1 import auth_pb2
from tests.conftest import AccountFactory, Running, ServerFactory
from tests.facade.conftest import FacadeFactory
from tests.support.addresses import forwarded_for, unique_client_ip
from tests.support.grpc_client import rpc_error

LOGIN = "/api/v1/auth/login"


def _fresh_limit() -> RateLimit:
    # A period of its own: a bucket no other test or earlier run of the suite has touched.
    return RateLimit(5, 60 + random.random())


async def _codes(running: Running, email: str, metadata: list[tuple[tuple[str, str], ...]]) -> list[str]:
    """The status of one wrong-password login per metadata, in order."""
    request = auth_pb2.LoginRequest(email=email, password="wrong password")
    codes = []
    for sent in metadata:
        error = await rpc_error(running.stub.Login(request, metadata=sent))
        codes.append(error.code().name)
    return codes


def _random_ipv4() -> str:
    return f"198.51.100.{secrets.randbelow(254) + 1}"


async def test_a_local_process_without_the_token_cannot_claim_client_ips(
    start_authsvc: ServerFactory, make_account: AccountFactory
) -> None:
    running = await start_authsvc(login_rate_limit=_fresh_limit())  # the facade's token is configured
    account = await make_account()
    bare = [((FORWARDED_FOR, unique_client_ip()),) for _ in range(6)]
    wrong = [((FORWARDED_FOR, _random_ipv4()), (PROXY_TOKEN, "x" * 40)) for _ in range(6)]
    codes = await _codes(running, account.email, bare + wrong)
    assert codes == ["UNAUTHENTICATED"] * 5 + ["RESOURCE_EXHAUSTED"] * 7  # all charged to 127.0.0.1


async def test_by_default_nobody_may_name_the_client_ip(
    start_authsvc: ServerFactory, make_account: AccountFactory
) -> None:
    running = await start_authsvc(login_rate_limit=_fresh_limit(), proxy_tokens=())
    account = await make_account()
    codes = await _codes(running, account.email, [forwarded_for(unique_client_ip()) for _ in range(7)])
    assert codes == ["UNAUTHENTICATED"] * 5 + ["RESOURCE_EXHAUSTED"] * 2


async def test_the_token_holder_names_clients_that_are_counted_apart(
    start_authsvc: ServerFactory, make_account: AccountFactory
) -> None:
    running = await start_authsvc(login_rate_limit=_fresh_limit())
    account = await make_account()
    one, other = unique_client_ip(), unique_client_ip()
    codes = await _codes(running, account.email, [forwarded_for(one)] * 6 + [forwarded_for(other)])
    assert codes == ["UNAUTHENTICATED"] * 5 + ["RESOURCE_EXHAUSTED", "UNAUTHENTICATED"]


async def test_trusted_networks_narrow_where_the_token_counts(
    start_authsvc: ServerFactory, make_account: AccountFactory
) -> None:
    running = await start_authsvc(
        login_rate_limit=_fresh_limit(), trusted_proxies=parse_networks("10.0.0.0/8")
    )
    account = await make_account()
    codes = await _codes(running, account.email, [forwarded_for(unique_client_ip()) for _ in range(6)])
    assert codes == ["UNAUTHENTICATED"] * 5 + ["RESOURCE_EXHAUSTED"]  # 127.0.0.1 is not in 10/8


async def test_ipv6_clients_are_counted_by_their_64(
    start_authsvc: ServerFactory, make_account: AccountFactory
) -> None:
    running = await start_authsvc(login_rate_limit=_fresh_limit())
    account = await make_account()
    prefix = f"2001:db8:{secrets.token_hex(2)}:{secrets.token_hex(2)}"
    same_64 = [forwarded_for(f"{prefix}:{secrets.token_hex(2)}::{secrets.token_hex(2)}") for _ in range(6)]
    codes = await _codes(running, account.email, same_64)
    assert codes == ["UNAUTHENTICATED"] * 5 + ["RESOURCE_EXHAUSTED"]
    # The next /64 over is another client; IPv4 clients count by address.
    assert await _codes(running, account.email, [forwarded_for(unique_client_ip())]) == ["UNAUTHENTICATED"]
    v4 = [forwarded_for(f"203.0.113.{n}") for n in random.sample(range(1, 255), 6)]
    assert await _codes(running, account.email, v4) == ["UNAUTHENTICATED"] * 6


async def test_the_ipv6_prefix_is_configurable(
    start_authsvc: ServerFactory, make_account: AccountFactory
) -> None:
    running = await start_authsvc(login_rate_limit=_fresh_limit(), ipv6_limit_prefix=48)
    account = await make_account()
    prefix = f"2001:db8:{secrets.token_hex(2)}"
    same_48 = [forwarded_for(f"{prefix}:{secrets.token_hex(2)}::1") for _ in range(6)]
    codes = await _codes(running, account.email, same_48)
    assert codes == ["UNAUTHENTICATED"] * 5 + ["RESOURCE_EXHAUSTED"]


async def test_through_the_facade_one_64_is_one_client(
    start_facade: FacadeFactory, start_authsvc: ServerFactory, make_account: AccountFactory
) -> None:
    running = await start_authsvc(login_rate_limit=_fresh_limit())
    facade = await start_facade(f"127.0.0.1:{running.port}", trusted_proxies=parse_networks("127.0.0.0/8"))
    account = await make_account()
    body = {"email": account.email, "password": "wrong password"}
    prefix = f"2001:db8:{secrets.token_hex(2)}:{secrets.token_hex(2)}"
    statuses = []
    for _ in range(12):
        client = {"X-Forwarded-For": f"{prefix}:{secrets.token_hex(2)}:{secrets.token_hex(2)}::1"}
        statuses.append((await facade.call("POST", LOGIN, json_body=body, headers=client)).status)
    assert statuses == [401] * 5 + [429] * 7


async def test_a_facade_without_the_token_is_one_client_for_authsvc(
    start_facade: FacadeFactory, start_authsvc: ServerFactory, make_account: AccountFactory
) -> None:
    running = await start_authsvc(login_rate_limit=_fresh_limit())
    facade = await start_facade(
        f"127.0.0.1:{running.port}", trusted_proxies=parse_networks("127.0.0.0/8"), proxy_token=None
    )
    account = await make_account()
    body = {"email": account.email, "password": "wrong password"}
    statuses = []
    for _ in range(6):
        client = {"X-Forwarded-For": unique_client_ip()}
        statuses.append((await facade.call("POST", LOGIN, json_body=body, headers=client)).status)
    assert statuses == [401] * 5 + [429]
