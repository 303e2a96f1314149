"""The security suite attacks both faces (it reuses the facade's fixtures) and reads the logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from authsvc.logs import JsonFormatter
from tests.facade.conftest import authsvc_with_health, facade, http, start_facade

__all__ = ["Capture", "authsvc_with_health", "captured", "facade", "http", "start_facade"]


class Capture(logging.Handler):
    """Every log line, formatted as the services format them, at DEBUG."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured() -> Iterator[Capture]:
    handler, root = Capture(), logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield handler
    root.removeHandler(handler)
    root.setLevel(previous)
