"""Signing tokens the way AuthService does, so a test can change exactly one thing about them."""

from __future__ import annotations

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
