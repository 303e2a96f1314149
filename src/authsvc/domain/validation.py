"""Input rules shared by the use cases: emails, names, passwords."""

from __future__ import annotations

import re
import unicodedata

from authsvc.domain.errors import invalid_argument

# Deliberately plain: one @, no spaces or control characters, a dot in the domain.
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,189}\.[^@\s\x00-\x1f\x7f.]{1,63}$")
MAX_EMAIL_LEN = 254
BCRYPT_MAX_BYTES = 72
MAX_NAME_LEN = 100


# Scripts whose letters look alike: a label that mixes two of them ("a-\u0430dmin", a Cyrillic
# "a" among Latin letters) is a look-alike of another address, the classic homograph (UTS #39 §5.2
# refuses such mixes from its "moderately restrictive" level up).
_LOOK_ALIKE_SCRIPTS = frozenset({"LATIN", "GREEK", "CYRILLIC", "ARMENIAN", "CHEROKEE", "COPTIC"})


def email_normal_form(email: str) -> str:
    """NFKC of the case-folded NFKC form: fullwidth and other compatibility letters become their
    plain ones, and letter case is folded (ß to ss, too), so look-alikes share one form."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", email.strip()).casefold())


def normalise_email(email: str) -> str:
    """The stored form of an email, the one uniqueness holds on and logins look up; raises
    INVALID_ARGUMENT for anything that is not one.

    Security: addresses that only look like another are either the same account here or refused:
    invisible characters (zero-width spaces, bidirectional controls) are refused, compatibility
    forms and case are folded (`email_normal_form`), and a label mixing look-alike scripts is
    refused.
    """
    if len(email) > 4 * MAX_EMAIL_LEN or has_invisible(email.strip()):  # no normalising megabytes
        raise invalid_argument("Invalid email address")
    candidate = email_normal_form(email)
    if len(candidate) > MAX_EMAIL_LEN or not _EMAIL.match(candidate) or mixes_scripts(candidate):
        raise invalid_argument("Invalid email address")
    return candidate


def mixes_scripts(email: str) -> bool:
    """Whether the local part or a label of the domain holds letters of two look-alike scripts."""
    for label in re.split(r"[@.]", email):
        scripts = {_script(c) for c in label if unicodedata.category(c).startswith("L")}
        if len(scripts & _LOOK_ALIKE_SCRIPTS) > 1:
            return True
    return False


def _script(letter: str) -> str:
    # The script is the first word of a letter's Unicode name ("CYRILLIC SMALL LETTER A").
    return unicodedata.name(letter, "UNKNOWN").split(" ", 1)[0]


def utf8_length(text: str) -> int | None:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return None


def password_fits_bcrypt(password: str) -> bool:
    size = utf8_length(password)
    return size is not None and 0 < size <= BCRYPT_MAX_BYTES


# Unicode categories a stored display string may not hold: controls (Cc), format characters (Cf:
# zero-width spaces, bidirectional overrides such as U+202E that reorder what a reader sees), line
# and paragraph separators (Zl, Zp), private-use (Co) and surrogate (Cs) code points. Each can make
# one name look like another, or hide part of it, wherever it is shown.
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs"})


def has_invisible(text: str) -> bool:
    return any(unicodedata.category(c) in INVISIBLE_CATEGORIES for c in text)


def check_name(name: str) -> str:
    """A display name (an API key's, a workspace's) as stored: trimmed, 1 to 100 characters, and
    nothing a reader cannot see."""
    cleaned = name.strip()
    if not cleaned:
        raise invalid_argument("Name is required")
    if len(cleaned) > MAX_NAME_LEN:
        raise invalid_argument(f"Name must be at most {MAX_NAME_LEN} characters")
    if has_invisible(cleaned):
        raise invalid_argument("Name must not contain control or invisible characters")
    return cleaned
