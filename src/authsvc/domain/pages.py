"""Pages of a list (AIP-158): page sizes, and opaque page tokens that resume after an item."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from authsvc.domain.errors import invalid_argument

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 100
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ends, in the list's order (creation time, then id)."""

    created_at: datetime
    id: str


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_token: str  # "" on the last page


def page_of(found: Sequence[T], limit: int, cursor_of: Callable[[T], Cursor]) -> Page[T]:
    """A page from what a query asked with `limit + 1` found: the first `limit`, and when there
    were more, a token resuming after the last of them."""
    if len(found) <= limit:
        return Page(list(found), "")
    return Page(list(found[:limit]), encode(cursor_of(found[limit - 1])))


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
