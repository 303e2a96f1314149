"""Signing tokens the way AuthService does, so a test can change exactly one thing about them."""

from __future__ import annotations

import base64
import hmac
import json
import warnings

import jwt

from authsvc.adapters.keyring import root_kid
from tests.conftest import TEST_SECRET


def forge(
    claims: dict[str, object], secret: bytes = TEST_SECRET, algorithm: str = "HS256", **header: object
) -> str:
    """A token over `claims` with AuthService's headers (typ at+jwt, kid of the test secret),
    unless `header` overrides them (a value of None drops that header)."""
    headers: dict[str, object] = {"typ": "at+jwt", "kid": root_kid(TEST_SECRET), **header}
    headers = {k: v for k, v in headers.items() if v is not None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyJWT warns that a 256-bit key is short for HS512
        return jwt.encode(claims, secret, algorithm=algorithm, headers=headers)


def forge_by_hand(claims: dict[str, object], secret: bytes, kid: str) -> str:
    """An HS256 token keyed with any bytes, public-key PEM included (PyJWT refuses to make one:
    an attacker does not ask it), for algorithm-confusion checks."""

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "HS256", "kid": kid, "typ": "at+jwt"}).encode())
    body = b64(json.dumps(claims).encode())
    signature = hmac.digest(secret, f"{head}.{body}".encode(), "sha256")
    return f"{head}.{body}.{b64(signature)}"
