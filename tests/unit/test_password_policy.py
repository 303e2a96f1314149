"""The password policy (NIST SP 800-63B rev. 4 §3.1.1.2) with the shipped common-password list."""

from __future__ import annotations

import pytest

from authsvc.adapters.common_passwords import common_passwords
from authsvc.domain.errors import AuthError, ErrorCode
from authsvc.domain.password_policy import PasswordPolicy, core

POLICY = PasswordPolicy(common=common_passwords)
EMAIL = "ada.lovelace@example.com"


def _refusal(password: str, policy: PasswordPolicy = POLICY) -> str | None:
    try:
        policy.check(password, EMAIL)
    except AuthError as error:
        assert error.code is ErrorCode.INVALID_ARGUMENT
        return error.detail
    return None


def test_the_list_is_the_30000_most_common_passwords() -> None:
    listed = common_passwords()
    assert len(listed) == 30_000 and {"123456", "password", "iloveyou", "dragon"} <= listed
    assert all(word == word.casefold() for word in listed)


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "violet staircase under the moon",
        "839201746592013",  # random digits are not a run
        "Tr0ub4dor&3 is not enough alone",
        "ada lovelace's analytical engine",  # the name is not the address
        "é" * 5 + "à" * 5 + "ü" * 6,
    ],
)
def test_long_uncommon_passwords_pass(password: str) -> None:
    assert _refusal(password) is None


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("fourteen chars", "Password must be at least 15 characters"),
        ("x" * 73, "Password must be at most 72 bytes in UTF-8"),
        ("\ud800" * 20, "Password must be valid UTF-8 text"),
        (EMAIL, "Password must not be the email address"),
        (EMAIL.upper() + "!!", "Password must not be the email address"),
        ("ada.lovelace2024!!!!", "Password must not be the email address"),
        ("my address is ada.lovelace@example.com", "Password must not be the email address"),
        ("zzzzzzzzzzzzzzzzzzzz", "Password must not be one or two characters repeated"),
        ("abababababababab", "Password must not be one or two characters repeated"),
        ("123456789012345678", "Password must not be a run of consecutive characters"),
        ("zyxwvutsrqponmlkj", "Password must not be a run of consecutive characters"),
        ("q1w2e3r4t5y6u7i8o9p0", "Password is one of the most commonly used passwords"),
        ("Password12345678!", "Password is one of the most commonly used passwords"),
        ("!!!Sunshine2024!!!", "Password is one of the most commonly used passwords"),
        ("trustno1trustno1", "Password is one of the most commonly used passwords"),
        ("MONKEYMONKEYMONKEY", "Password is one of the most commonly used passwords"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password: str, reason: str) -> None:
    assert _refusal(password) == reason


def test_the_minimum_length_is_configurable() -> None:
    eight = PasswordPolicy(min_length=8, common=common_passwords)
    assert _refusal("gz7#qLp2", eight) is None
    assert _refusal("gz7#qLp", eight) == "Password must be at least 8 characters"
    assert _refusal("dragon12", eight) == "Password is one of the most commonly used passwords"


def test_the_core_drops_what_surrounds_the_letters() -> None:
    assert core("!!Pass word99") == "pass word"
    assert core("2024") == ""
