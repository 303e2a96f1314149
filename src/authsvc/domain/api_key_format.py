"""API key format: `sf_<env>_` + 32 base62 characters (190 random bits) + a 6-character checksum.

The checksum (CRC32 of everything before it, base62) lets a typo or a forged key be refused
without a database query, and the fixed prefix lets secret scanners recognise a leaked key.
Keys have far more entropy than passwords, so a fast SHA-256 is the right hash to store
(a slow hash per request would buy nothing and cost the hot path).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import zlib
from collections.abc import Callable
from dataclasses import dataclass

ENVIRONMENTS = ("live", "test")
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BODY_LEN = 32
_CHECKSUM_LEN = 6
_RANDOM_BYTES = 24  # 192 bits drawn; 32 base62 characters keep 190 of them
DISPLAY_PREFIX_LEN = 12  # e.g. "sf_live_Ab3x": enough to recognise a key, useless to guess it
_SHAPE = re.compile(rf"sf_(live|test)_([0-9A-Za-z]{{{_BODY_LEN}}})([0-9A-Za-z]{{{_CHECKSUM_LEN}}})")
KEY_LENGTH = len("sf_live_") + _BODY_LEN + _CHECKSUM_LEN


_PAIRS = [high + low for high in _ALPHABET for low in _ALPHABET]  # two digits at a time: hot path


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


@dataclass(frozen=True, slots=True)
class ParsedKey:
    environment: str
    display_prefix: str
    digest: bytes


def looks_like_api_key(token: str) -> bool:
    return token.startswith(("sf_live_", "sf_test_"))


def generate(environment: str, random_bytes: Callable[[int], bytes] = secrets.token_bytes) -> str:
    if environment not in ENVIRONMENTS:
        raise ValueError(environment)
    body = _base62(int.from_bytes(random_bytes(_RANDOM_BYTES), "big"), _BODY_LEN)
    head = f"sf_{environment}_{body}"
    return head + _checksum(head)


def parse(key: str) -> ParsedKey | None:
    """The key's parts if its shape and checksum hold, else None (no database needed)."""
    match = _SHAPE.fullmatch(key)
    if match is None:
        return None
    head = key[:-_CHECKSUM_LEN]
    if not secrets.compare_digest(_checksum(head), match.group(3)):
        return None
    return ParsedKey(match.group(1), key[:DISPLAY_PREFIX_LEN], digest(key))


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("ascii")).digest()
