"""The docs stay true: every setting either process reads is in docs/configuration.md, nothing
there is a setting neither reads, and every route of the facade is in docs/rest-api.md."""

from __future__ import annotations

import re
from pathlib import Path

from authsvc.config import Settings as AuthSettings
from http_facade.config import Settings as FacadeSettings
from http_facade.routes import ROUTES

DOCS = Path(__file__).resolve().parents[2] / "docs"
TESTS_ONLY = {"AUTHSVC_TEST_DATABASE_URL"}


def _read_settings() -> set[str]:
    return set(AuthSettings.variables().values()) | set(FacadeSettings.variables().values())


def _documented() -> set[str]:
    text = (DOCS / "configuration.md").read_text()
    names: set[str] = set()
    for row in re.findall(r"^\| (`[A-Z0-9_]+`(?: / `[A-Z0-9_]+`)*) \|", text, re.MULTILINE):
        names.update(re.findall(r"`([A-Z0-9_]+)`", row))
    return names


def test_every_setting_read_is_documented_with_a_default_and_nothing_else_is() -> None:
    read, documented = _read_settings(), _documented()
    assert read - documented == set(), "settings missing from docs/configuration.md"
    assert documented - read - TESTS_ONLY == set(), "documented settings nothing reads"
    text = (DOCS / "configuration.md").read_text()
    for name in read:
        row = next(line for line in text.splitlines() if line.startswith("| ") and f"`{name}`" in line)
        assert row.count("|") >= 4 and row.split("|")[2].strip(), f"{name} has no default"


def test_every_route_is_in_the_rest_doc() -> None:
    text = (DOCS / "rest-api.md").read_text()
    for route in ROUTES:
        rows = [line for line in text.splitlines() if line.startswith("| ") and route.path in line]
        assert any(route.method in row for row in rows), f"{route.method} {route.path}"
