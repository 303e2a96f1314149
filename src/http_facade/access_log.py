"""The facade's access log: one JSON line per request, written in batches.

Through `logging`, a line cost about as much as answering a cached /me (a LogRecord, a lock, a
formatter and a write with a flush for each). Here the line is the same JSON (`logs.json_line`),
kept in a buffer written out every FLUSH_SECONDS, when it holds MAX_LINES, and when the facade
stops. When logging is configured otherwise (not `logs.configure`), lines go through `logging`.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from authsvc import logs

FLUSH_SECONDS = 0.1
MAX_LINES = 512
_pending: list[str] = []
_flush_scheduled = False


class AccessLog(AbstractAccessLogger):
    """One line per request, like aiohttp's default but with the path and never the query string:
    a client that puts a credential there (RFC 6750's `access_token=`, which we do not accept)
    must not find it in our logs."""

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time_taken: float) -> None:
        message = '{} "{} {} HTTP/{}.{}" {} {} {:.6f}s request_id={}'.format(
            request.remote or "-",
            request.method,
            request.rel_url.raw_path,  # as sent (percent-encoded), without the query
            *request.version,
            response.status,
            response.body_length,
            time_taken,
            response.headers.get("X-Request-ID", "-"),
        )
        if logs.json_stream() is None:
            self.logger.info("%s", message)
            return
        _pending.append(logs.json_line(time.time(), "INFO", self.logger.name, message))
        if len(_pending) >= MAX_LINES:
            flush()
        else:
            _schedule()


def _schedule() -> None:
    global _flush_scheduled
    if not _flush_scheduled:
        _flush_scheduled = True
        asyncio.get_running_loop().call_later(FLUSH_SECONDS, flush)


def flush() -> None:
    """Writes out the lines kept so far (also at shutdown)."""
    global _flush_scheduled
    _flush_scheduled = False
    stream = logs.json_stream()
    if not _pending or stream is None:
        return
    text = "\n".join(_pending) + "\n"
    _pending.clear()
    stream.write(text)
    stream.flush()
