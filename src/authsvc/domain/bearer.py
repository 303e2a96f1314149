"""Reading `Authorization: Bearer <token>` (RFC 6750), the one way every face of authsvc does it."""

from __future__ import annotations


def bearer_credentials(authorization: str | None) -> str | None:
    """The token of a Bearer authorization value (scheme case-insensitive), or None for no value,
    another scheme, or an empty token."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None
