"""GET /.well-known/jwks.json: the public signing keys (EdDSA, ES256, RS256), so services and
gateways verify access tokens offline with PyJWT's PyJWKClient pointed at the facade, across key
rotations and changes of algorithm."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
import pytest

from tests.conftest import KeyedAuthsvc
from tests.facade.client import Facade
from tests.facade.conftest import FacadeFactory
from tests.support.clock import FakeClock

JWKS = "/.well-known/jwks.json"
RETIRE_AFTER = 3600


@dataclass
class Keyed:
    """An AuthService on a database of its own, whose signing keys the test rotates, and a facade."""

    facade: Facade
    authsvc: KeyedAuthsvc

    @property
    def clock(self) -> FakeClock:
        return self.authsvc.clock

    async def rotate(self, algorithm: str) -> str:
        return await self.authsvc.rotate(algorithm, RETIRE_AFTER)

    async def access_token(self) -> tuple[str, str]:
        email = f"jwks-{uuid.uuid4().hex[:8]}@example.com"
        user = await self.authsvc.services.users.create(email, "a long password", "admin", "jwks")
        return (await self.facade.login(email, "a long password"))["access_token"], user.id


@pytest.fixture
async def keyed(keyed_authsvc: KeyedAuthsvc, start_facade: FacadeFactory) -> Keyed:
    return Keyed(await start_facade(f"127.0.0.1:{keyed_authsvc.port}"), keyed_authsvc)


def _verify_offline(jwks_url: str, token: str, algorithm: str = "EdDSA") -> dict[str, Any]:
    """What an internal service does: fetch the key the token's kid names, verify locally with
    the one algorithm it expects (never the token's own say)."""
    client = jwt.PyJWKClient(jwks_url, cache_keys=False)
    key = client.get_signing_key_from_jwt(token)
    claims: dict[str, Any] = jwt.decode(
        token,
        key.key,
        algorithms=[algorithm],
        audience="authsvc",
        issuer="authsvc",
        options={"require": ["exp", "iat", "sub", "aud", "iss"]},
    )
    return claims


async def test_no_keys_are_published_while_every_key_is_hs256(facade: Facade) -> None:
    reply = await facade.call("GET", JWKS)
    assert reply.status == 200 and reply.json == {"keys": []}
    assert reply.headers["Cache-Control"] == "no-cache"


async def test_eddsa_tokens_verify_offline_through_the_facade_across_a_rotation(keyed: Keyed) -> None:
    url = keyed.facade.base_url + JWKS
    first = await keyed.rotate("EdDSA")
    token, user_id = await keyed.access_token()

    published = (await keyed.facade.call("GET", JWKS)).json["keys"]
    assert [key["kid"] for key in published] == [first]
    assert set(published[0]) == {"kty", "crv", "x", "kid", "alg", "use"}  # no private "d", no secret
    assert (published[0]["kty"], published[0]["crv"], published[0]["alg"]) == ("OKP", "Ed25519", "EdDSA")
    assert published[0]["use"] == "sig"
    claims = await asyncio.to_thread(_verify_offline, url, token)
    assert claims["sub"] == user_id

    second = await keyed.rotate("EdDSA")
    newer, _ = await keyed.access_token()
    assert jwt.get_unverified_header(newer)["kid"] == second
    assert {key["kid"] for key in (await keyed.facade.call("GET", JWKS)).json["keys"]} == {first, second}
    for each in (token, newer):  # the old key still verifies the tokens it signed
        await asyncio.to_thread(_verify_offline, url, each)

    keyed.clock.advance(RETIRE_AFTER + 1)  # the first key retires: it is no longer published
    assert [key["kid"] for key in (await keyed.facade.call("GET", JWKS)).json["keys"]] == [second]
    with pytest.raises(jwt.PyJWKClientError):
        await asyncio.to_thread(_verify_offline, url, token)


MEMBERS = {"OKP": {"crv", "x"}, "EC": {"crv", "x", "y"}, "RSA": {"n", "e"}}


async def test_each_algorithm_verifies_offline_through_pyjwkclient_as_keys_change_algorithm(
    keyed: Keyed,
) -> None:
    """An EdDSA deployment moves to ES256, then RS256 (say, for AWS API Gateway): each token
    verifies offline with the published key of its kid while the older keys still verify."""
    url = keyed.facade.base_url + JWKS
    issued: list[tuple[str, str, str]] = []  # (algorithm, kid, token)
    for algorithm, kty in (("EdDSA", "OKP"), ("ES256", "EC"), ("RS256", "RSA")):
        kid = await keyed.rotate(algorithm)
        token, user_id = await keyed.access_token()
        assert jwt.get_unverified_header(token) == {"alg": algorithm, "kid": kid, "typ": "at+jwt"}
        issued.append((algorithm, kid, token))

        published = {key["kid"]: key for key in (await keyed.facade.call("GET", JWKS)).json["keys"]}
        assert set(published) == {kid for _, kid, _ in issued}
        mine = published[kid]
        assert (mine["kty"], mine["alg"], mine["use"]) == (kty, algorithm, "sig")
        assert set(mine) == {"kty", "kid", "alg", "use"} | MEMBERS[kty]  # no private member, no secret
        assert (await asyncio.to_thread(_verify_offline, url, token, algorithm))["sub"] == user_id

    for algorithm, _, token in issued:  # every key still verifies what it signed
        await asyncio.to_thread(_verify_offline, url, token, algorithm)
        assert (await keyed.facade.call("GET", "/api/v1/auth/me", token=token)).status == 200
    rsa_token = issued[-1][2]
    with pytest.raises(jwt.InvalidAlgorithmError):  # a verifier pinned to another algorithm refuses
        await asyncio.to_thread(_verify_offline, url, rsa_token, "ES256")
