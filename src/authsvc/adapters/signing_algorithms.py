"""The algorithms a signing key can have: how each key is made, sealed, published and read back.

- HS256: a shared secret; only AuthService verifies (it is never published or streamed).
- EdDSA (Ed25519, RFC 8037), ES256 (ECDSA P-256 with SHA-256) and RS256 (RSA 2048, PKCS#1 v1.5
  with SHA-256), RFC 7518: public keys, published as JWKs (RFC 7517) in the JWKS and the
  revocation stream, so gateways and SDKs verify tokens without holding anything that signs.

`public_key_from_jwk` is the one reader of a published key, used by every verifier of ours: it
takes exactly the members its key type defines and refuses weak or malformed keys (an RSA modulus
under 2048 bits, a point off the P-256 curve) rather than guessing.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

HS256 = "HS256"
EDDSA = "EdDSA"
ES256 = "ES256"
RS256 = "RS256"
ALGORITHMS = (HS256, EDDSA, ES256, RS256)
ASYMMETRIC = frozenset({EDDSA, ES256, RS256})
RSA_BITS = 2048  # RFC 7518 §3.3: 2048 or larger; what AWS API Gateway and Kong accept
RSA_PUBLIC_EXPONENT = 65537
KID_PREFIXES = {HS256: "hs-", EDDSA: "ed-", ES256: "es-", RS256: "rs-"}

PrivateKey = Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey

_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_RAW = (serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
_PKCS8 = (serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def new_private_key(algorithm: str) -> tuple[PrivateKey, bytes]:
    """A fresh key of an asymmetric algorithm and its private material, to be sealed."""
    if algorithm == EDDSA:
        ed_key = Ed25519PrivateKey.generate()
        return ed_key, ed_key.private_bytes(*_RAW)
    if algorithm == ES256:
        ec_key = ec.generate_private_key(ec.SECP256R1())
        return ec_key, ec_key.private_bytes(*_PKCS8)
    if algorithm == RS256:
        rsa_key = rsa.generate_private_key(RSA_PUBLIC_EXPONENT, RSA_BITS)
        return rsa_key, rsa_key.private_bytes(*_PKCS8)
    raise ValueError(f"unsupported algorithm {algorithm}")


def private_key(algorithm: str, material: bytes) -> PrivateKey:
    """The private key that `new_private_key` gave this material for (ValueError if it is not)."""
    if algorithm == EDDSA:
        return Ed25519PrivateKey.from_private_bytes(material)
    if algorithm in (ES256, RS256):
        key = serialization.load_der_private_key(material, password=None)
        if algorithm == ES256 and isinstance(key, ec.EllipticCurvePrivateKey) and _is_p256(key.curve):
            return key
        if algorithm == RS256 and isinstance(key, rsa.RSAPrivateKey) and key.key_size >= RSA_BITS:
            return key
    raise ValueError(f"no {algorithm} private key in this material")


def public_jwk(kid: str, algorithm: str, public: PublicKey) -> dict[str, str]:
    """The public key as a JWK with exactly its type's members, and kid, alg and use."""
    named = {"kid": kid, "alg": algorithm, "use": "sig"}
    if algorithm == EDDSA and isinstance(public, Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw), **named}
    if algorithm == ES256 and isinstance(public, ec.EllipticCurvePublicKey):
        point = public.public_numbers()
        return {"kty": "EC", "crv": "P-256", "x": _b64_int(point.x, 32), "y": _b64_int(point.y, 32), **named}
    if algorithm == RS256 and isinstance(public, rsa.RSAPublicKey):
        numbers = public.public_numbers()
        return {"kty": "RSA", "n": _b64_int(numbers.n), "e": _b64_int(numbers.e), **named}
    raise ValueError(f"not a {algorithm} public key")


def public_key_from_jwk(jwk: Mapping[str, Any]) -> tuple[str, PublicKey] | None:
    """The algorithm and public key a published JWK holds; None for anything we do not sign with,
    a key too weak to trust, or a malformed one."""
    try:
        algorithm, kty = jwk.get("alg"), jwk.get("kty")
        if algorithm == EDDSA and kty == "OKP" and jwk.get("crv") == "Ed25519":
            return EDDSA, Ed25519PublicKey.from_public_bytes(_b64decode(jwk.get("x"), 32))
        if algorithm == ES256 and kty == "EC" and jwk.get("crv") == "P-256":
            x = int.from_bytes(_b64decode(jwk.get("x"), 32))
            y = int.from_bytes(_b64decode(jwk.get("y"), 32))
            return ES256, ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
        if algorithm == RS256 and kty == "RSA":
            n = int.from_bytes(_b64decode(jwk.get("n")))
            e = int.from_bytes(_b64decode(jwk.get("e")))
            if n.bit_length() < RSA_BITS or e < 3 or e % 2 == 0:
                return None
            return RS256, rsa.RSAPublicNumbers(e, n).public_key()
    except ValueError:  # not on the curve, wrong length, or an invalid RSA key
        return None
    return None


def public_pem(public: PublicKey) -> str:
    """The public key as SubjectPublicKeyInfo PEM, for tools that take PEM rather than a JWKS."""
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return public.public_bytes(serialization.Encoding.PEM, spki).decode()


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64_int(value: int, length: int | None = None) -> str:
    """RFC 7518 §6.2.1.2 / §6.3.1.1: big-endian, fixed length for curve coordinates, minimal
    otherwise."""
    return b64url(value.to_bytes(length or max(1, (value.bit_length() + 7) // 8)))


def _b64decode(value: object, length: int | None = None) -> bytes:
    if not isinstance(value, str) or not _BASE64URL.fullmatch(value) or len(value) % 4 == 1:
        raise ValueError("not base64url")
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    if b64url(raw) != value or (length is not None and len(raw) != length):
        raise ValueError("not the canonical encoding of a key member")
    return raw


def _is_p256(curve: ec.EllipticCurve) -> bool:
    return isinstance(curve, ec.SECP256R1)
