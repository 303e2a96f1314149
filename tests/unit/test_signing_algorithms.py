"""Signing keys of each asymmetric algorithm: made, sealed and read back, published as a JWK with
exactly its type's members, and read from a JWK only when it is well formed and strong enough."""

from __future__ import annotations

import base64

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from authsvc.adapters.signing_algorithms import (
    ASYMMETRIC,
    new_private_key,
    private_key,
    public_jwk,
    public_key_from_jwk,
)

MEMBERS = {
    "EdDSA": {"kty", "crv", "x", "kid", "alg", "use"},
    "ES256": {"kty", "crv", "x", "y", "kid", "alg", "use"},
    "RS256": {"kty", "n", "e", "kid", "alg", "use"},
}


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.mark.parametrize("algorithm", sorted(ASYMMETRIC))
def test_a_key_round_trips_through_its_material_and_its_jwk(algorithm: str) -> None:
    key, material = new_private_key(algorithm)
    again = private_key(algorithm, material)
    jwk = public_jwk("kid-1", algorithm, again.public_key())
    assert set(jwk) == MEMBERS[algorithm] and jwk["alg"] == algorithm and jwk["use"] == "sig"
    assert "d" not in jwk and "p" not in jwk  # never a private member

    read = public_key_from_jwk(jwk)
    assert read is not None and read[0] == algorithm
    token = jwt.encode({"sub": "someone"}, key, algorithm=algorithm)
    assert jwt.decode(token, read[1], algorithms=[algorithm])["sub"] == "someone"
    # PyJWT reads our JWK as any JWKS client would.
    assert jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=[algorithm])["sub"] == "someone"


def test_material_of_one_algorithm_is_not_read_as_another() -> None:
    _, ec_material = new_private_key("ES256")
    _, rsa_material = new_private_key("RS256")
    for algorithm, material in (("RS256", ec_material), ("ES256", rsa_material), ("EdDSA", rsa_material)):
        with pytest.raises(ValueError):
            private_key(algorithm, material)
    with pytest.raises(ValueError):
        new_private_key("HS512")


def test_weak_malformed_or_mislabelled_jwks_are_not_used() -> None:
    ec_key, _ = new_private_key("ES256")
    good_ec = public_jwk("k", "ES256", ec_key.public_key())
    rsa_key, _ = new_private_key("RS256")
    good_rsa = public_jwk("k", "RS256", rsa_key.public_key())
    weak = rsa.generate_private_key(65537, 1024).public_key().public_numbers()
    other_curve = ec.generate_private_key(ec.SECP384R1()).public_key().public_numbers()
    x = int.from_bytes(base64.urlsafe_b64decode(good_ec["x"] + "=="))

    refused = [
        {**good_rsa, "n": _b64(weak.n.to_bytes(128))},  # 1024 bits: under RFC 7518's minimum
        {**good_rsa, "e": _b64((65536).to_bytes(3))},  # an even exponent
        {**good_ec, "y": _b64(((x * 7) % (2**256)).to_bytes(32))},  # a point off the curve
        {
            **good_ec,
            "crv": "P-384",
            "x": _b64(other_curve.x.to_bytes(48)),
            "y": _b64(other_curve.y.to_bytes(48)),
        },
        {**good_ec, "x": good_ec["x"] + "="},  # padded: not base64url as JWK writes it
        {**good_ec, "x": good_ec["x"][:-2]},  # too short for P-256
        {**good_ec, "alg": "RS256"},  # the type does not match the algorithm
        {**good_rsa, "alg": "HS256"},  # never a symmetric algorithm
        {**good_rsa, "alg": "none"},
        {key: value for key, value in good_rsa.items() if key != "n"},
        {**good_rsa, "n": 12345},
    ]
    for jwk in refused:
        assert public_key_from_jwk(jwk) is None, jwk
