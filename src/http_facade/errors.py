"""The one middleware that turns every failure into `{"detail": ...}` JSON: AuthService's
statuses (by the table of authsvc.client.http_errors), the facade's own refusals and aiohttp's."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping

import grpc
from aiohttp import web
from aiohttp.typedefs import Handler

from authsvc.client.errors import AuthClientError  # a check refused inside a batch: the same table
from authsvc.client.forward_auth_headers import rate_limit_headers
from authsvc.client.http_errors import INTERNAL, challenge, outcome

log = logging.getLogger(__name__)
DEFAULT_RETRY_AFTER = 60


class FacadeError(Exception):
    """A request the facade refuses itself (malformed body, wrong media type...)."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


def error_response(status: int, detail: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response({"detail": detail}, status=status, headers=headers)


def from_status(
    code: grpc.StatusCode,
    details: str | None,
    trailers: Iterable[tuple[str, object]] | None,
    request: web.Request,
) -> web.Response:
    mapped = outcome(code)
    if mapped.status >= 500:
        log.warning("AuthService call failed: %s %s", code.name, details)
    detail = mapped.text(details)
    headers: dict[str, str] = {}
    authenticate = challenge(mapped.status, detail, presented="Authorization" in request.headers)
    if authenticate is not None:
        headers["WWW-Authenticate"] = authenticate
    elif mapped.status == 429:
        headers["Retry-After"] = str(retry_after(trailers))
    return error_response(mapped.status, detail, headers)


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
        told = () if error.retry_after is None else (("retry-after", str(error.retry_after)),)
        response = from_status(error.code, error.detail, told, request)
        response.headers.update(rate_limit_headers(error.limits))
        return response
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
