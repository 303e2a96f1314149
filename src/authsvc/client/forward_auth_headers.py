"""The headers a gateway hands on for a credential check, the same from every face of authsvc:
the REST facade's forward auth (`/api/v1/auth/verify`), the local-verification replies, and
AuthService's Envoy external authorization.

- Identity: `X-Auth-Subject`, `X-Auth-Kind`, `X-Auth-User`, `X-Auth-Workspace`,
  `X-Auth-Permissions`, and for API keys `X-Auth-Environment` and `X-Auth-Key-Name`.
- Limits, for a charged check: the IETF RateLimit and RateLimit-Policy fields
  (draft-ietf-httpapi-ratelimit-headers, its structured-field form):

    RateLimit-Policy: "key-minute";q=100;w=60, "workspace-day";q=100000;w=86400
    RateLimit: "key-minute";r=42;t=18, "workspace-day";r=99120;t=3600

  One item per limit the request counted against: its quota `q` per window of `w` seconds, and
  what remains `r` until the window resets in `t` seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal
from urllib.parse import quote

from authsvc.v1 import auth_pb2

Kind = Literal["user", "api_key"]
Environment = Literal["live", "test"]
KINDS: dict[int, Kind] = {auth_pb2.PRINCIPAL_KIND_USER: "user", auth_pb2.PRINCIPAL_KIND_API_KEY: "api_key"}
# The public names of the proto's enums (the REST API keeps the strings it always had).
ENVIRONMENTS: dict[auth_pb2.Environment, Environment] = {
    auth_pb2.ENVIRONMENT_LIVE: "live",
    auth_pb2.ENVIRONMENT_TEST: "test",
}
# X-Auth-Key-Name: a key's name as percent-encoded UTF-8 (headers carry ASCII), these left as they are.
NAME_SAFE = " !#$&'()*+,-./:;=?@[]^_`{|}~"
# Every identity header: a gateway removes those a check does not set, so none can be forged.
IDENTITY_HEADERS = (
    "X-Auth-Subject",
    "X-Auth-Kind",
    "X-Auth-User",
    "X-Auth-Workspace",
    "X-Auth-Permissions",
    "X-Auth-Environment",
    "X-Auth-Key-Name",
)


def identity_headers(value: auth_pb2.Principal) -> dict[str, str]:
    """The principal as the headers a gateway hands to the app behind it (forward auth).

    X-Auth-Environment only for API keys: gateways that copy these headers (nginx
    `auth_request_set` + `proxy_set_header`, Traefik `authResponseHeaders`) replace, or drop, what
    a client sent under the same name, so an absent header cannot be forged either.
    """
    headers = {
        "X-Auth-Subject": value.subject_id,
        "X-Auth-Kind": KINDS[value.kind],
        "X-Auth-User": value.user_id,
        "X-Auth-Workspace": value.workspace_id,
        "X-Auth-Permissions": ",".join(value.permissions),
    }
    if value.environment in ENVIRONMENTS:
        headers["X-Auth-Environment"] = ENVIRONMENTS[value.environment]
    if value.kind == auth_pb2.PRINCIPAL_KIND_API_KEY:
        headers["X-Auth-Key-Name"] = quote(value.api_key_name, safe=NAME_SAFE)
    return headers


def rate_limit_headers(limits: Sequence[auth_pb2.RateLimitState]) -> dict[str, str]:
    if not limits:
        return {}
    return {
        "RateLimit-Policy": ", ".join(f'"{s.policy}";q={s.limit};w={s.window_seconds}' for s in limits),
        "RateLimit": ", ".join(f'"{s.policy}";r={s.remaining};t={s.reset_seconds}' for s in limits),
    }
