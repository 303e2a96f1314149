"""The HS256 fast path must judge every token exactly as PyJWT (with our header rules) would."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

import jwt
from hypothesis import given
from hypothesis import strategies as st

from authsvc.adapters.jwt_codec import JwtCodec, _hs256_token
from authsvc.adapters.keyring import KeyRing, root_kid
from authsvc.domain.errors import AuthError
from authsvc.domain.tokens import ACCESS_REQUIRED_CLAIMS, ACCESS_TYP, check_times

SECRET = secrets.token_bytes(32)
NOW = 1_800_000_000
CODEC = JwtCodec(KeyRing.root_only(SECRET), "authsvc", "authsvc", 30)
GOOD: dict[str, Any] = {
    "iss": "authsvc",
    "aud": "authsvc",
    "sub": "4d2c5e0a-7d1e-4f4e-9d55-0f6a2b1c3d4e",
    "wid": "0b7f8a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
    "sid": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    "jti": "jti-1",
    "scope": "geofences:read",
    "iat": NOW,
    "nbf": NOW,
    "exp": NOW + 3600,
}


def reference(token: str) -> dict[str, Any] | None:
    """What PyJWT itself accepts, with the header and time rules we add to it."""
    try:
        decoded = jwt.PyJWT().decode_complete(
            token,
            SECRET,
            algorithms=["HS256"],
            audience="authsvc",
            issuer="authsvc",
            options={
                "require": list(ACCESS_REQUIRED_CLAIMS),
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "strict_aud": True,
            },
        )
        header = decoded["header"]
        if set(header) - {"alg", "typ", "kid"} or header.get("typ") != ACCESS_TYP:
            return None
        if header.get("kid") != root_kid(SECRET) or header.get("alg") != "HS256":
            return None
        check_times(decoded["payload"], NOW, 30)
    except (jwt.InvalidTokenError, AuthError, ValueError, RecursionError):
        return None
    payload: dict[str, Any] = decoded["payload"]
    return payload


def ours(token: str) -> dict[str, Any] | None:
    try:
        return CODEC.decode(token, ACCESS_TYP, ACCESS_REQUIRED_CLAIMS, NOW)[0]
    except AuthError:
        return None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def sign(claims: dict[str, Any], **header: Any) -> str:
    """Signs anything, even claims PyJWT's own encoder would refuse to write."""
    head = {"alg": "HS256", "typ": ACCESS_TYP, "kid": root_kid(SECRET), **header}
    signing_input = f"{_b64(json.dumps(head).encode())}.{_b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{_b64(hmac.new(SECRET, signing_input.encode(), hashlib.sha256).digest())}"


claim_values = st.one_of(
    st.none(),
    st.integers(-(2**40), 2**40),
    st.text(max_size=12),
    st.sampled_from(["authsvc", "authsvc ", "auth", NOW, NOW + 10, 1.5]),
    st.lists(st.sampled_from(["authsvc", "x"]), max_size=2),
)


@given(
    changes=st.dictionaries(st.sampled_from(sorted(GOOD)), claim_values, max_size=3),
    drop=st.sets(st.sampled_from(sorted(GOOD)), max_size=2),
)
def test_claims_are_judged_like_pyjwt(changes: dict[str, Any], drop: set[str]) -> None:
    claims = {k: v for k, v in {**GOOD, **changes}.items() if k not in drop}
    token = sign(claims)
    assert ours(token) == reference(token)


@given(position=st.integers(0, 400), replacement=st.sampled_from("AZaz09-_.=+/ \x00é"))
def test_mutated_tokens_are_judged_like_pyjwt(position: int, replacement: str) -> None:
    token = sign(GOOD)
    position %= len(token)
    mutated = token[:position] + replacement + token[position + 1 :]
    assert ours(mutated) == reference(mutated)
    assert ours(token) == reference(token) == GOOD


def test_header_rules() -> None:
    for header in ({"typ": "JWT"}, {"kid": "other"}, {"jku": "http://127.0.0.1:9/"}, {"crit": ["exp"]}):
        token = sign(GOOD, **header)
        assert ours(token) is None and reference(token) is None


_JSON_SCALARS = st.one_of(st.integers(-(2**53), 2**53), st.text(max_size=30), st.booleans(), st.none())


@given(
    payload=st.dictionaries(
        # Registered claims have types PyJWT enforces on encode; ours are always well typed.
        st.text(min_size=1, max_size=12).filter(
            lambda k: k not in {"iss", "sub", "aud", "jti", "exp", "nbf", "iat"}
        ),
        st.one_of(_JSON_SCALARS, st.lists(_JSON_SCALARS, max_size=4)),
    ),
    typ=st.sampled_from([ACCESS_TYP, "rt+jwt", "x"]),
    secret=st.binary(min_size=32, max_size=64),
)
def test_hs256_signing_is_byte_for_byte_pyjwts(payload: dict[str, Any], typ: str, secret: bytes) -> None:
    kid = root_kid(secret)
    ours = _hs256_token({"alg": "HS256", "typ": typ, "kid": kid}, payload, secret)
    assert ours == jwt.encode(payload, secret, algorithm="HS256", headers={"typ": typ, "kid": kid})


def test_issued_tokens_are_what_pyjwt_would_issue_and_verify() -> None:
    token = CODEC.encode({k: v for k, v in GOOD.items() if k not in ("iss", "aud")}, ACCESS_TYP)
    expected = jwt.encode(
        GOOD, SECRET, algorithm="HS256", headers={"typ": ACCESS_TYP, "kid": root_kid(SECRET)}
    )
    assert token == expected
    assert reference(token) == GOOD


def test_a_forged_token_is_refused_again_without_verifying_and_forgotten_when_keys_change() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from authsvc.adapters.keyring import SigningKey

    private = Ed25519PrivateKey.generate()
    key = SigningKey("ed-1", "EdDSA", private, private.public_key(), {"kid": "ed-1"}, 0, None)
    ring = KeyRing([key])
    codec = JwtCodec(ring, "authsvc", "authsvc", 30)
    claims = {"iss": "authsvc", "aud": "authsvc", "sub": "u", "iat": 1, "nbf": 1, "exp": 2**40}
    token = jwt.encode(claims, private, algorithm="EdDSA", headers={"typ": ACCESS_TYP, "kid": "ed-1"})
    head, _, _ = token.rpartition(".")
    forged = f"{head}.{base64.urlsafe_b64encode(secrets.token_bytes(64)).rstrip(b'=').decode()}"
    for _ in range(2):
        try:
            codec.decode(forged, ACCESS_TYP, ("sub",), 100)
        except AuthError:
            pass
        else:
            raise AssertionError("a forged token was accepted")
    assert len(codec._forged) == 1  # remembered once, refused the second time from memory
    assert codec.decode(token, ACCESS_TYP, ("sub",), 100)[0]["sub"] == "u"  # the real one still passes
    ring.replace([key, SigningKey("ed-2", "EdDSA", private, private.public_key(), {"kid": "ed-2"}, 5, None)])
    assert not codec._forged
