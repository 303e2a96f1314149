"""The IETF RateLimit and RateLimit-Policy fields (draft-ietf-httpapi-ratelimit-headers, its
structured-field form) for an answer that was charged to a client's limits:

    RateLimit-Policy: "key-minute";q=100;w=60, "workspace-day";q=100000;w=86400
    RateLimit: "key-minute";r=42;t=18, "workspace-day";r=99120;t=3600

One item per limit the request counted against: its quota `q` per window of `w` seconds, and what
remains `r` until the window resets in `t` seconds.
"""

from __future__ import annotations

from collections.abc import Sequence

from authsvc.v1 import auth_pb2


def rate_limit_headers(limits: Sequence[auth_pb2.RateLimitState]) -> dict[str, str]:
    if not limits:
        return {}
    return {
        "RateLimit-Policy": ", ".join(f'"{s.policy}";q={s.limit};w={s.window_seconds}' for s in limits),
        "RateLimit": ", ".join(f'"{s.policy}";r={s.remaining};t={s.reset_seconds}' for s in limits),
    }
