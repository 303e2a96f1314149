"""Every request's id: the caller's X-Request-ID when sane, else a fresh one; on the facade's log
lines, forwarded to AuthService, and echoed on the reply."""

from __future__ import annotations

import random
import re

from aiohttp import web
from aiohttp.typedefs import Handler

from authsvc import logs
from http_facade.state import REQUEST_ID

_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id(header: str | None) -> str:
    """The caller's X-Request-ID when it is a short, plain token; a fresh one otherwise."""
    if header is not None and _SANE_REQUEST_ID.fullmatch(header):
        return header
    # 32 hex digits, like uuid4().hex. An id must be unique, not secret (a caller may choose its
    # own), so the process's PRNG does: urandom is a system call, which showed per request.
    return f"{random.getrandbits(128):032x}"


@web.middleware
async def with_request_id(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Gives every request an id, forwarded to AuthService and echoed as X-Request-ID."""
    request[REQUEST_ID] = request_id(request.headers.get("X-Request-ID"))
    logged = logs.REQUEST_ID.set(request[REQUEST_ID])  # on the facade's own log lines too
    try:
        response = await handler(request)
    finally:
        logs.REQUEST_ID.reset(logged)
    response.headers["X-Request-ID"] = request[REQUEST_ID]
    return response
