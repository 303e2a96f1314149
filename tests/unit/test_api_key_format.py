"""API key generation and parsing, with no database."""

from __future__ import annotations

import itertools

from authsvc.domain import api_key_format


def test_keys_are_unique_well_formed_and_parse() -> None:
    keys = {api_key_format.generate("live") for _ in range(1000)}
    assert len(keys) == 1000
    for key in keys:
        assert key.startswith("sf_live_") and len(key) == api_key_format.KEY_LENGTH
        parsed = api_key_format.parse(key)
        assert parsed is not None and parsed.environment == "live"


def test_any_single_character_change_fails_the_checksum() -> None:
    key = api_key_format.generate("test")
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    misses = 0
    for position, replacement in itertools.product(range(8, len(key)), alphabet[:10]):
        if key[position] == replacement:
            continue
        changed = key[:position] + replacement + key[position + 1 :]
        misses += api_key_format.parse(changed) is not None
    assert misses == 0


def test_randomness_is_injected_and_drives_the_body() -> None:
    fixed = api_key_format.generate("live", random_bytes=lambda n: b"\x01" * n)
    assert fixed == api_key_format.generate("live", random_bytes=lambda n: b"\x01" * n)
    assert fixed != api_key_format.generate("live", random_bytes=lambda n: b"\x02" * n)


def test_malformed_input_does_not_parse() -> None:
    for text in ("", "sf_live_", "sf_prod_" + "A" * 38, "SF_LIVE_" + "A" * 38, "sf_live_" + "é" * 38):
        assert api_key_format.parse(text) is None
