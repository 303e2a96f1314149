"""Structured logs: one JSON object per line, UTC timestamps, never a secret in a field."""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TextIO, cast

# The caller's request id (the facade's X-Request-Id, carried as gRPC metadata), for every line
# logged while a call is handled.
# A function that finds it when a line is logged (gRPC calls), or the id itself (the facade).
REQUEST_ID: contextvars.ContextVar[str | Callable[[], str | None] | None] = contextvars.ContextVar(
    "request_id", default=None
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        request_id = REQUEST_ID.get()
        if callable(request_id):
            request_id = request_id()
        exc = self.formatException(record.exc_info) if record.exc_info else None
        return json_line(record.created, record.levelname, record.name, record.getMessage(), request_id, exc)


def json_line(
    created: float, level: str, logger: str, msg: str, request_id: str | None = None, exc: str | None = None
) -> str:
    """One log line: what JsonFormatter writes, for writers that skip `logging` on a hot path."""
    entry: dict[str, object] = {
        "ts": datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds"),
        "level": level,
        "logger": logger,
        "msg": msg,
    }
    if request_id:
        entry["request_id"] = request_id
    if exc:
        entry["exc"] = exc
    return json.dumps(entry, ensure_ascii=False)


def json_stream() -> TextIO | None:
    """The stream `configure` logs to, while it is still the only handler (else None)."""
    handlers = logging.getLogger().handlers
    if len(handlers) == 1 and isinstance(handlers[0], logging.StreamHandler):
        if isinstance(handlers[0].formatter, JsonFormatter):
            return cast(TextIO, handlers[0].stream)
    return None


def configure(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("pgserver").setLevel(logging.WARNING)  # it narrates initdb at INFO
