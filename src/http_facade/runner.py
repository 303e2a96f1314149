"""Serving the app: aiohttp's runner, with requests that fail to parse answered as our own errors.

A request aiohttp cannot parse (a header line over 8,190 bytes, a bad request line, a stray byte
in a header) never reaches the app or its middlewares. aiohttp answers it itself, in text/plain
with the offending input in the body, and logs it at ERROR with a traceback; so an
`Authorization: Bearer <key>` padded past the limit put the key in the reply and in our log.
Here such a request gets the documented `{"detail": ...}` JSON with a fixed text (431 for header
fields too large, 414 for a request line too long, else 400) and one WARNING line that names the
kind of error, never its text. No reply says which server software answered it.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger("http_facade")
SERVER = "authsvc"  # the Server header: aiohttp's default names Python's and its own version
MAX_LINE_BYTES = 8192  # the request line (method, path and query)
MAX_FIELD_BYTES = 8190  # one header line; distinct from the line limit so a refusal can tell them apart
_DETAIL = {
    400: "Malformed request",
    414: "Request line too long",
    431: "Request header fields too large",
    500: "Internal server error",
    504: "Upstream timeout",
}


def _status(error: BaseException | None, status: int) -> int:
    if isinstance(error, LineTooLong):
        # LineTooLong(line, limit): which limit was passed tells a header from the request line.
        return 431 if error.args[1:2] == (MAX_FIELD_BYTES,) else 414
    if isinstance(error, HttpProcessingError):
        return 400
    return status if status in _DETAIL else 500


class _JsonErrorsProtocol(RequestHandler):
    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        status = _status(exc, status)
        if isinstance(exc, HttpProcessingError):
            # Its text quotes the request: the kind of error only, and no traceback.
            level = logging.DEBUG if isinstance(exc, BadHttpMethod) else logging.WARNING
            log.log(level, "refused a request that does not parse from %s: %s (%d)",
                    request.remote or "-", type(exc).__name__, status)  # fmt: skip
        elif status == 500:
            log.error("unexpected error handling a request", exc_info=exc)
        if request.writer.output_size > 0:
            raise ConnectionError("a response is already under way: no error reply can follow")
        response = web.json_response({"detail": _DETAIL[status]}, status=status)
        response.headers["Server"] = SERVER
        response.force_close()
        return response


class _Server(web.Server):
    def __call__(self) -> RequestHandler:
        return _JsonErrorsProtocol(self, loop=self._loop, **self._kwargs)


class FacadeRunner(web.AppRunner):
    """`web.AppRunner` for the facade: the app's own start-up and clean-up, its connections served
    by a protocol that answers parse errors as JSON (tests and `http-facade serve` alike)."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        kwargs.setdefault("max_line_size", MAX_LINE_BYTES)
        kwargs.setdefault("max_field_size", MAX_FIELD_BYTES)
        super().__init__(app, **kwargs)

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()  # starts the app up, as AppRunner does
        return _Server(
            made.request_handler,
            request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation,
            loop=made._loop,
            **made._kwargs,
        )


async def name_no_software(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every routed reply says `Server: authsvc`, not aiohttp's version."""
    response.headers["Server"] = SERVER
