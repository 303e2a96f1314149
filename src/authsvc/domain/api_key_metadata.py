"""An API key's metadata: a small JSON object its creator attaches (a customer id, a plan name...)
that every service validating the key is told. Kept as compact JSON text."""

from __future__ import annotations

import json

from authsvc.domain.errors import invalid_argument

MAX_METADATA_BYTES = 2048  # as compact UTF-8 JSON
EMPTY = "{}"


def canonical(value: object) -> str:
    """`value` as compact JSON text, if it is a JSON object of at most MAX_METADATA_BYTES;
    INVALID_ARGUMENT otherwise."""
    if not isinstance(value, dict):
        raise invalid_argument("metadata must be a JSON object")
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):  # a non-JSON value, NaN or infinity
        raise invalid_argument("metadata must hold JSON values only (finite numbers)") from None
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:  # a lone surrogate
        raise invalid_argument("metadata must be valid UTF-8") from None
    if size > MAX_METADATA_BYTES:
        raise invalid_argument(f"metadata must be at most {MAX_METADATA_BYTES} bytes as JSON")
    return text
