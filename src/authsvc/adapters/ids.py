"""UUID helpers for repositories: a malformed id from a token or request matches nothing."""

from __future__ import annotations

import uuid


def parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError, AttributeError):
        return None
