"""Signing-key rotation: new tokens use the new key, old ones verify until retired, EdDSA via JWKS."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, fields

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from authsvc.adapters.invalidation import InvalidationListener
from authsvc.adapters.keyring import KeyRing, root_kid
from authsvc.adapters.pg_signing_keys import SIGNING_KEYS_MESSAGE, PgSigningKeyStore, ring_reloader
from authsvc.adapters.signing_algorithms import new_private_key
from authsvc.v1 import auth_pb2, auth_pb2_grpc
from tests.conftest import TEST_SECRET, KeyedAuthsvc
from tests.support.grpc_client import rpc_error
from tests.support.tokens import forge, forge_by_hand

RETIRE_AFTER = 3600


@dataclass
class KeyedService(KeyedAuthsvc):
    """The keyed AuthService, with a stub on a channel to it."""

    stub: auth_pb2_grpc.AuthServiceStub


@pytest.fixture
async def keyed(keyed_authsvc: KeyedAuthsvc) -> AsyncIterator[KeyedService]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{keyed_authsvc.port}") as channel:
        parts = {f.name: getattr(keyed_authsvc, f.name) for f in fields(keyed_authsvc)}
        yield KeyedService(**parts, stub=auth_pb2_grpc.AuthServiceStub(channel))


async def _login(keyed: KeyedService) -> auth_pb2.TokenPair:
    email = f"keys-{uuid.uuid4().hex[:8]}@example.com"
    await keyed.services.users.create(email, "a long password", "admin", "keys")
    return await keyed.stub.Login(auth_pb2.LoginRequest(email=email, password="a long password"))


async def _validates(keyed: KeyedService, token: str) -> bool:
    try:
        await keyed.stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=token))
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        return False
    return True


async def _rotate(keyed: KeyedService, algorithm: str) -> str:
    return await keyed.rotate(algorithm, RETIRE_AFTER)


async def test_first_key_is_the_root_secret_and_tokens_name_it(keyed: KeyedService) -> None:
    pair = await _login(keyed)
    assert jwt.get_unverified_header(pair.access_token)["kid"] == root_kid(TEST_SECRET)
    assert keyed.ring.kids == [root_kid(TEST_SECRET)]
    row = await keyed.database.fetchrow("SELECT material FROM signing_keys")
    assert row is not None and row["material"] is None  # the root secret is never stored


async def test_rotation_keeps_old_tokens_valid_until_they_retire(keyed: KeyedService) -> None:
    before = await _login(keyed)
    kid = await _rotate(keyed, "HS256")
    after = await _login(keyed)

    assert jwt.get_unverified_header(after.access_token)["kid"] == kid
    assert await _validates(keyed, before.access_token) and await _validates(keyed, after.access_token)
    refreshed = await keyed.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=before.refresh_token))
    assert jwt.get_unverified_header(refreshed.access_token)["kid"] == kid

    keyed.clock.advance(RETIRE_AFTER + 1)
    assert not await _validates(keyed, before.access_token)
    assert await _validates(keyed, after.access_token)
    error = await rpc_error(keyed.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=before.refresh_token)))
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_keys_are_encrypted_at_rest(keyed: KeyedService) -> None:
    kids = [await _rotate(keyed, algorithm) for algorithm in ("HS256", "EdDSA", "ES256", "RS256")]
    for kid in kids:
        material = await keyed.database.fetchval("SELECT material FROM signing_keys WHERE kid = $1", kid)
        key = keyed.ring.verifier(kid, int(keyed.clock.now().timestamp()))
        assert key is not None
        if isinstance(key.signing_key, bytes):
            secrets = [key.signing_key]
        elif isinstance(key.signing_key, Ed25519PrivateKey):
            secrets = [key.signing_key.private_bytes_raw()]
        else:  # the private scalar (EC) or exponent (RSA), as any encoding would hold it
            numbers = key.signing_key.private_numbers()
            value = numbers.private_value if hasattr(numbers, "private_value") else numbers.d
            secrets = [value.to_bytes((value.bit_length() + 7) // 8)]
        assert all(secret not in bytes(material) for secret in secrets)
    other = PgSigningKeyStore(keyed.database, b"another root secret of 32 bytes!")
    assert await other.load() == []  # without the root secret the rows are useless


@pytest.mark.parametrize("algorithm", ["ES256", "RS256"])
async def test_ecdsa_and_rsa_keys_sign_verify_and_publish_their_public_half(
    keyed: KeyedService, algorithm: str
) -> None:
    kid = await _rotate(keyed, algorithm)
    assert kid.startswith(algorithm[:2].lower() + "-")
    pair = await _login(keyed)
    assert jwt.get_unverified_header(pair.access_token) == {"alg": algorithm, "kid": kid, "typ": "at+jwt"}
    assert await _validates(keyed, pair.access_token)
    refreshed = await keyed.stub.Refresh(auth_pb2.RefreshRequest(refresh_token=pair.refresh_token))
    assert await _validates(keyed, refreshed.access_token)

    published = (await keyed.stub.GetJwks(auth_pb2.GetJwksRequest())).keys
    assert [k.kid for k in published] == [kid] and published[0].alg == algorithm
    jwk = {field.name: value for field, value in published[0].ListFields()}
    claims = jwt.decode(pair.access_token, jwt.PyJWK(jwk).key, algorithms=[algorithm], audience="authsvc")

    # Algorithm confusion: HS256 "signed" with the public key as PEM (what a verifier that lets
    # the token pick the algorithm would check it with), naming our key.
    pem = jwt.PyJWK(jwk).key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    now = int(keyed.clock.now().timestamp())
    forged = forge_by_hand({**claims, "iat": now, "exp": now + 60}, pem, kid)
    assert not await _validates(keyed, forged)
    # The right algorithm under our kid but another key: refused too.
    stranger, _ = new_private_key(algorithm)
    other = jwt.encode(claims, stranger, algorithm=algorithm, headers={"typ": "at+jwt", "kid": kid})
    assert not await _validates(keyed, other)


async def test_eddsa_tokens_verify_offline_with_the_published_jwks(keyed: KeyedService) -> None:
    kid = await _rotate(keyed, "EdDSA")
    pair = await _login(keyed)
    header = jwt.get_unverified_header(pair.access_token)
    assert header == {"alg": "EdDSA", "kid": kid, "typ": "at+jwt"}
    assert await _validates(keyed, pair.access_token)

    jwks = await keyed.stub.GetJwks(auth_pb2.GetJwksRequest())
    assert [k.kid for k in jwks.keys] == [kid]
    published = jwks.keys[0]
    assert (published.kty, published.crv, published.alg) == ("OKP", "Ed25519", "EdDSA")
    public = jwt.PyJWK({"kty": "OKP", "crv": "Ed25519", "x": published.x, "kid": kid})
    claims = jwt.decode(pair.access_token, public.key, algorithms=["EdDSA"], audience="authsvc")
    assert claims["sid"]

    # The old algorithm-confusion trick: HS256 "signed" with the public key, naming the EdDSA key.
    now = int(keyed.clock.now().timestamp())
    forged = forge({**claims, "iat": now, "exp": now + 60}, secret=published.x.encode(), kid=kid)
    assert not await _validates(keyed, forged)


async def test_every_replica_learns_of_a_rotation(keyed: KeyedService, fresh_database_url: str) -> None:
    other_ring = KeyRing(await keyed.store.load())
    refresher = ring_reloader(keyed.store, other_ring)
    listener = InvalidationListener(
        fresh_database_url, lambda m: refresher.soon() if m == SIGNING_KEYS_MESSAGE else None, lambda _: None
    )
    tasks = [asyncio.create_task(listener.run()), asyncio.create_task(refresher.run())]
    try:
        await asyncio.wait_for(listener.listening.wait(), 10)
        kid = await keyed.store.rotate("HS256", keyed.clock.now(), 5, RETIRE_AFTER)
        for _ in range(20):
            if kid in other_ring.kids:
                break
            await asyncio.sleep(0.05)
        assert kid in other_ring.kids
        now = int(keyed.clock.now().timestamp())
        assert other_ring.signer(now).kid != kid  # published 5 s before it signs
        assert other_ring.signer(now + 5).kid == kid
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
