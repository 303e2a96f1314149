"""API key format: `sf_<env>_` + 32 base62 characters (190 random bits) + a 6-character checksum.

The checksum (CRC32 of everything before it, base62) lets a typo or a forged key be refused
without a database query, and the fixed prefix lets secret scanners recognise a leaked key.
Keys have far more entropy than passwords, so a fast SHA-256 is the right hash to store
(a slow hash per request would buy nothing and cost the hot path).
"""

from __future__ import annotations

import hashlib
import secrets
import zlib
from collections.abc import Callable

ENVIRONMENTS = ("live", "test")
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BODY_LEN = 32
_CHECKSUM_LEN = 6
_RANDOM_BYTES = 24  # 192 bits drawn; 32 base62 characters keep 190 of them
DISPLAY_PREFIX_LEN = 12  # e.g. "sf_live_Ab3x": enough to recognise a key, useless to guess it
_PREFIXES = tuple(f"sf_{environment}_" for environment in ENVIRONMENTS)
_PREFIX_LEN = len(_PREFIXES[0])
KEY_LENGTH = _PREFIX_LEN + _BODY_LEN + _CHECKSUM_LEN


_PAIRS = [high + low for high in _ALPHABET for low in _ALPHABET]  # two digits at a time: hot path
_PAIR_VALUES = {pair: value for value, pair in enumerate(_PAIRS)}
_CHECKSUM_MODULUS = len(_ALPHABET) ** _CHECKSUM_LEN
_PAIR_BASE = len(_PAIRS)
assert _CHECKSUM_LEN == 6  # checked_digest reads the checksum as three digit pairs


def _base62(number: int, width: int) -> str:
    """`number` mod 62**width as `width` digits (`width` even)."""
    if width % 2:
        raise ValueError("base62 width must be even")
    pairs = []
    for _ in range(width // 2):
        number, pair = divmod(number, 62 * 62)
        pairs.append(_PAIRS[pair])
    return "".join(reversed(pairs))


def _checksum(head: str) -> str:
    return _base62(zlib.crc32(head.encode("ascii")), _CHECKSUM_LEN)


def looks_like_api_key(token: str) -> bool:
    return token.startswith(_PREFIXES)


def prefixes(environments: tuple[str, ...]) -> tuple[str, ...]:
    """The key prefixes of `environments` ("sf_live_", ...), for a quick startswith."""
    return tuple(f"sf_{environment}_" for environment in environments)


def generate(environment: str, random_bytes: Callable[[int], bytes] = secrets.token_bytes) -> str:
    if environment not in ENVIRONMENTS:
        raise ValueError(environment)
    body = _base62(int.from_bytes(random_bytes(_RANDOM_BYTES), "big"), _BODY_LEN)
    head = f"sf_{environment}_{body}"
    return head + _checksum(head)


def checked_digest(key: str) -> bytes | None:
    """The digest to look `key` up by, if it has an API key's shape (a known prefix, then ASCII
    letters and digits only, at the right length) and its checksum holds; else None, with no
    database needed. Every ValidateToken of an API key runs this, so it decodes the checksum's
    digit pairs and compares numbers rather than encoding the CRC to compare texts (the checksum
    is no secret: anyone can compute it for a body of their own)."""
    if len(key) != KEY_LENGTH or not key.isascii() or not key.startswith(_PREFIXES):
        return None
    raw = key.encode("ascii")
    if not raw[_PREFIX_LEN:].isalnum():  # bytes: ASCII letters and digits only
        return None
    written = (
        _PAIR_VALUES[key[-6:-4]] * _PAIR_BASE**2
        + _PAIR_VALUES[key[-4:-2]] * _PAIR_BASE
        + _PAIR_VALUES[key[-2:]]
    )
    if zlib.crc32(raw[:-_CHECKSUM_LEN]) % _CHECKSUM_MODULUS != written:
        return None
    return hashlib.sha256(raw).digest()


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("ascii")).digest()
