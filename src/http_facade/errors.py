"""The one gRPC status → HTTP table, and the one middleware that turns every failure into
`{"detail": ...}` JSON: AuthService's statuses, the facade's own refusals and aiohttp's errors."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus

import grpc
from aiohttp import web
from aiohttp.typedefs import Handler

from authsvc.client.errors import AuthClientError  # a check refused inside a batch: the same table

log = logging.getLogger(__name__)
INTERNAL = "Internal server error"
DEFAULT_RETRY_AFTER = 60
# RFC 6750 §3: error_description is %x20-21 / %x23-5B / %x5D-7E.
_DESCRIPTION = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]+")


class FacadeError(Exception):
    """A request the facade refuses itself (malformed body, wrong media type...)."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class Outcome:
    status: int
    # A fixed text, or None to show the status message: AuthService keeps those caller-safe (the
    # public doc's texts, "API key not found"...). Statuses that grpcio itself may raise, with
    # addresses or exception text in the message, always get a fixed text.
    detail: str | None


# The mapping grpc-gateway and Envoy share.
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


def error_response(status: int, detail: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response({"detail": detail}, status=status, headers=headers)


def from_status(
    code: grpc.StatusCode,
    details: str | None,
    trailers: Iterable[tuple[str, object]] | None,
    request: web.Request,
) -> web.Response:
    outcome = OUTCOMES.get(code, Outcome(500, INTERNAL))
    if outcome.status >= 500:
        log.warning("AuthService call failed: %s %s", code.name, details)
    detail = outcome.detail or details or HTTPStatus(outcome.status).phrase
    headers: dict[str, str] = {}
    if outcome.status == 401:
        # RFC 6750 §3: name the error only when a token was presented.
        presented = "Authorization" in request.headers
        headers["WWW-Authenticate"] = bearer_challenge("invalid_token", detail) if presented else "Bearer"
    elif outcome.status == 403:
        headers["WWW-Authenticate"] = bearer_challenge("insufficient_scope", detail)
    elif outcome.status == 429:
        headers["Retry-After"] = str(retry_after(trailers))
    return error_response(outcome.status, detail, headers)


def bearer_challenge(error: str, detail: str) -> str:
    """`Bearer error="...", error_description="<detail>"` (RFC 6750 §3).

    The description repeats the JSON detail for clients and gateways that see only headers: nginx
    `auth_request` drops the body of a refusal but keeps this header. RFC 6750 allows only
    printable ASCII without `"` and `\\` there; any other detail is left out of the header.
    """
    if _DESCRIPTION.fullmatch(detail):
        return f'Bearer error="{error}", error_description="{detail}"'
    return f'Bearer error="{error}"'


def retry_after(trailers: Iterable[tuple[str, object]] | None) -> int:
    """Whole seconds from AuthService's `retry-after` trailing metadata; a minute when absent."""
    values = [value for key, value in trailers or () if key == "retry-after"]
    try:
        seconds = float(values[0])  # type: ignore[arg-type]
    except (IndexError, TypeError, ValueError):
        return DEFAULT_RETRY_AFTER
    return math.ceil(seconds) if 0 <= seconds <= 86400 else DEFAULT_RETRY_AFTER


# aiohttp's own errors keep their status and these headers; their plain-text bodies become JSON.
_KEPT_HEADERS = ("Allow",)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes `{"detail": ...}` JSON; no response carries a trace or internal text."""
    try:
        return await handler(request)
    except grpc.aio.AioRpcError as error:
        return from_status(error.code(), error.details(), error.trailing_metadata(), request)
    except AuthClientError as error:
        return from_status(error.code, error.detail, (), request)
    except FacadeError as error:
        return error_response(error.status, error.detail, error.headers)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        kept = {name: error.headers[name] for name in _KEPT_HEADERS if name in error.headers}
        return error_response(error.status, error.reason, kept)
    except Exception:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(500, INTERNAL)
