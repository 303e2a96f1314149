"""What a new password must be, after NIST SP 800-63B (rev. 4, §3.1.1.2): long enough, within
bcrypt's 72 bytes, not the account's own email, not one of the most commonly used passwords. No
composition rules and no expiry: the same guidance finds that they make passwords weaker.

A password is compared by its "core": case-folded, with what it starts and ends with besides
letters taken off ("Password2024!" and "!!monkey123" are "password" and "monkey"), since adding
digits or a symbol to a common password is the first thing a guesser tries.
"""

from __future__ import annotations

import itertools
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from authsvc.domain.errors import invalid_argument
from authsvc.domain.validation import BCRYPT_MAX_BYTES, utf8_length

DEFAULT_MIN_LENGTH = 15  # SP 800-63B rev. 4: at least 15 for a password that is the only factor
LOWEST_MIN_LENGTH = 8  # the least the same guidance allows (alongside another factor)


def core(password: str) -> str:
    """The case-folded password without the non-letters it starts and ends with."""
    folded = unicodedata.normalize("NFKC", password).casefold()
    start, end = 0, len(folded)
    while start < end and not folded[start].isalpha():
        start += 1
    while end > start and not folded[end - 1].isalpha():
        end -= 1
    return folded[start:end]


def is_run(text: str) -> bool:
    """Each character the one after (or before) the last: "123456789012345", "zyxwvu..."."""
    steps = {ord(b) - ord(a) for a, b in itertools.pairwise(text)}
    return bool(steps) and (steps <= {1, -9} or steps <= {-1, 9})


def repeated_unit(text: str) -> str:
    """The shortest piece `text` is a repetition of ("monkeymonkey" → "monkey"), else `text`."""
    for size in range(1, len(text) // 2 + 1):
        if len(text) % size == 0 and text[:size] * (len(text) // size) == text:
            return text[:size]
    return text


def _no_list() -> frozenset[str]:
    return frozenset()


@dataclass(frozen=True)
class PasswordPolicy:
    """`common` gives the refused passwords (lower case); it is called on each check, so it should
    be cheap after its first call (adapters.common_passwords caches it)."""

    min_length: int = DEFAULT_MIN_LENGTH
    common: Callable[[], frozenset[str]] = field(default=_no_list)

    def check(self, password: str, email: str | None = None) -> None:
        """INVALID_ARGUMENT with the reason when `password` may not be set for `email`'s account."""
        if len(password) < self.min_length:
            raise invalid_argument(f"Password must be at least {self.min_length} characters")
        size = utf8_length(password)
        if size is None:
            raise invalid_argument("Password must be valid UTF-8 text")
        if size > BCRYPT_MAX_BYTES:
            raise invalid_argument(f"Password must be at most {BCRYPT_MAX_BYTES} bytes in UTF-8")
        folded, stem = unicodedata.normalize("NFKC", password).casefold(), core(password)
        if email:
            address = email.casefold()
            local = address.split("@", 1)[0]
            if address in folded or stem in (address, local):
                raise invalid_argument("Password must not be the email address")
        if len(set(folded)) <= 2:  # "aaaaaaaaaaaaaaa", "abababababababab"
            raise invalid_argument("Password must not be one or two characters repeated")
        if is_run(folded):
            raise invalid_argument("Password must not be a run of consecutive characters")
        refused = self.common()
        pieces = {folded, repeated_unit(folded)} | ({stem, repeated_unit(stem)} if stem else set())
        if not pieces.isdisjoint(refused):
            raise invalid_argument("Password is one of the most commonly used passwords")
