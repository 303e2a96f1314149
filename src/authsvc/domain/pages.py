"""Pages of a list (AIP-158): page sizes, and opaque page tokens that resume after an item."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime

from authsvc.domain.errors import invalid_argument

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 100


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ends, in the list's order (creation time, then id)."""

    created_at: datetime
    id: str


def page_size(asked: int) -> int:
    """0: the default; above the maximum: the maximum (AIP-158); below 0: INVALID_ARGUMENT."""
    if asked < 0:
        raise invalid_argument("page_size must not be negative")
    return min(asked or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def encode(cursor: Cursor) -> str:
    raw = json.dumps({"t": cursor.created_at.isoformat(), "i": cursor.id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(token: str) -> Cursor | None:
    """The cursor a page token names; None for the first page (""); INVALID_ARGUMENT otherwise.

    A token only says where to resume: whatever it holds, the list is still the caller's own."""
    if not token:
        return None
    try:
        document = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return Cursor(datetime.fromisoformat(document["t"]), str(document["i"]))
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise invalid_argument("Invalid page_token") from None
