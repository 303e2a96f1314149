"""The one gRPC status → HTTP table, for every HTTP face of authsvc: the REST facade's error
middleware and the SDK's aiohttp middleware answer the same failures alike.

The mapping grpc-gateway and Envoy share. Statuses whose message AuthService keeps caller-safe
(the public doc's texts, "API key not found"...) show it; statuses grpcio itself may raise, with
addresses or exception text in the message, always get a fixed text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from http import HTTPStatus

import grpc

from authsvc.client.errors import MALFORMED_AUTHORIZATION

INTERNAL = "Internal server error"
# RFC 6750 §3: error_description is %x20-21 / %x23-5B / %x5D-7E.
_DESCRIPTION = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]+")


@dataclass(frozen=True)
class Outcome:
    status: int
    detail: str | None  # a fixed text, or None to show the status message

    def text(self, details: str | None) -> str:
        return self.detail or details or HTTPStatus(self.status).phrase


OUTCOMES: dict[grpc.StatusCode, Outcome] = {
    grpc.StatusCode.CANCELLED: Outcome(499, "Request cancelled"),
    grpc.StatusCode.UNKNOWN: Outcome(500, INTERNAL),
    grpc.StatusCode.INVALID_ARGUMENT: Outcome(400, None),
    grpc.StatusCode.DEADLINE_EXCEEDED: Outcome(504, "Upstream timeout"),
    grpc.StatusCode.NOT_FOUND: Outcome(404, None),
    grpc.StatusCode.ALREADY_EXISTS: Outcome(409, None),
    grpc.StatusCode.PERMISSION_DENIED: Outcome(403, "Insufficient permissions"),
    grpc.StatusCode.UNAUTHENTICATED: Outcome(401, None),
    grpc.StatusCode.RESOURCE_EXHAUSTED: Outcome(429, "Rate limit exceeded"),
    grpc.StatusCode.FAILED_PRECONDITION: Outcome(400, None),
    grpc.StatusCode.ABORTED: Outcome(409, None),
    grpc.StatusCode.OUT_OF_RANGE: Outcome(400, None),
    grpc.StatusCode.UNIMPLEMENTED: Outcome(501, "Not implemented"),
    grpc.StatusCode.INTERNAL: Outcome(500, INTERNAL),
    grpc.StatusCode.UNAVAILABLE: Outcome(503, "Service unavailable"),
    grpc.StatusCode.DATA_LOSS: Outcome(500, INTERNAL),
}
UNMAPPED = Outcome(500, INTERNAL)


def outcome(code: grpc.StatusCode) -> Outcome:
    return OUTCOMES.get(code, UNMAPPED)


def refusal(code: grpc.StatusCode, details: str | None, presented: bool) -> tuple[int, str, str | None]:
    """A refused check as an HTTP face answers it: status, JSON detail, WWW-Authenticate. A
    repeated Authorization header is RFC 6750's `invalid_request`."""
    if code == grpc.StatusCode.INVALID_ARGUMENT and details == MALFORMED_AUTHORIZATION:
        return 400, details, 'Bearer error="invalid_request"'
    mapped = outcome(code)
    detail = mapped.text(details)
    return mapped.status, detail, challenge(mapped.status, detail, presented)


def challenge(status: int, detail: str, presented: bool) -> str | None:
    """The WWW-Authenticate value of a refusal, the same from every HTTP face: a bare `Bearer`
    when no credentials came (RFC 6750 §3 names no error then), the error and its description
    for a 401 or 403 on presented ones, none for any other status."""
    if status == 401:
        return bearer_challenge("invalid_token", detail) if presented else "Bearer"
    if status == 403:
        return bearer_challenge("insufficient_scope", detail)
    return None


def bearer_challenge(error: str, detail: str) -> str:
    """`Bearer error="...", error_description="<detail>"` (RFC 6750 §3).

    The description repeats the JSON detail for clients and gateways that see only headers: nginx
    `auth_request` drops the body of a refusal but keeps this header. RFC 6750 allows only
    printable ASCII without `"` and `\\` there; any other detail is left out of the header.
    """
    if _DESCRIPTION.fullmatch(detail):
        return f'Bearer error="{error}", error_description="{detail}"'
    return f'Bearer error="{error}"'
