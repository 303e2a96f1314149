"""API key generation and parsing, with no database."""

from __future__ import annotations

import hashlib
import itertools
import re
import zlib

from hypothesis import given
from hypothesis import strategies as st

from authsvc.domain import api_key_format

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
SHAPE = re.compile(r"sf_(live|test)_[0-9A-Za-z]{38}")


def reference_digest(text: str) -> bytes | None:
    """The format's definition written plainly: the shape, then the CRC32 of everything before
    the last six characters, written in base62 (most significant digit first) as those six."""
    if not SHAPE.fullmatch(text):
        return None
    crc, written = zlib.crc32(text[:-6].encode("ascii")), 0
    for character in text[-6:]:
        written = written * 62 + ALPHABET.index(character)
    return hashlib.sha256(text.encode("ascii")).digest() if crc == written else None


def test_keys_are_unique_well_formed_and_parse() -> None:
    keys = {api_key_format.generate("live") for _ in range(1000)}
    assert len(keys) == 1000
    for key in keys:
        assert key.startswith("sf_live_") and len(key) == api_key_format.KEY_LENGTH
        assert api_key_format.checked_digest(key) == hashlib.sha256(key.encode()).digest()


def test_any_single_character_change_fails_the_checksum() -> None:
    key = api_key_format.generate("test")
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    misses = 0
    for position, replacement in itertools.product(range(8, len(key)), alphabet[:10]):
        if key[position] == replacement:
            continue
        changed = key[:position] + replacement + key[position + 1 :]
        misses += api_key_format.checked_digest(changed) is not None
    assert misses == 0


def test_randomness_is_injected_and_drives_the_body() -> None:
    fixed = api_key_format.generate("live", random_bytes=lambda n: b"\x01" * n)
    assert fixed == api_key_format.generate("live", random_bytes=lambda n: b"\x01" * n)
    assert fixed != api_key_format.generate("live", random_bytes=lambda n: b"\x02" * n)


def test_malformed_input_does_not_parse() -> None:
    for text in ("", "sf_live_", "sf_prod_" + "A" * 38, "SF_LIVE_" + "A" * 38, "sf_live_" + "é" * 38):
        assert api_key_format.checked_digest(text) is None


# Keys, keys with one character replaced (by anything, non-ASCII digits and letters included),
# and text of the right length: the checks agree with the plain definition on all of them.
_KEYS = st.sampled_from(["live", "test"]).map(api_key_format.generate)
_MUTATED = st.tuples(_KEYS, st.integers(0, api_key_format.KEY_LENGTH - 1), st.characters()).map(
    lambda k: k[0][: k[1]] + k[2] + k[0][k[1] + 1 :]
)
_SAME_LENGTH = st.tuples(
    st.sampled_from(["sf_live_", "sf_test_", "sf_liv_x"]), st.text(min_size=38, max_size=38)
)


@given(st.one_of(_KEYS, _MUTATED, _SAME_LENGTH.map("".join), st.text()))
def test_checked_digest_agrees_with_the_format_definition(text: str) -> None:
    assert api_key_format.checked_digest(text) == reference_digest(text)
