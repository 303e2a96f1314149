"""Request bodies: the JSON shape of each one, checked on the way in and described in OpenAPI.

Only the transport is checked here (UTF-8, JSON, an object with the right fields of the right
JSON types, values protobuf can carry); what the values mean is AuthService's business.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from http_facade.errors import FacadeError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
Kind = Literal["string", "int64", "strings"]


@dataclass(frozen=True)
class Field:
    kind: Kind
    description: str
    # Documentation only (an enum, bounds, an example): AuthService enforces the meaning.
    documented: Mapping[str, Any] = field(default_factory=dict)

    def accepts(self, value: object) -> bool:
        if self.kind == "string":
            return _is_text(value)
        if self.kind == "int64":
            return isinstance(value, int) and not isinstance(value, bool) and INT64_MIN <= value <= INT64_MAX
        return isinstance(value, list) and all(_is_text(item) for item in value)

    def json_schema(self) -> dict[str, Any]:
        return {**_SCHEMAS[self.kind], "description": self.description, **self.documented}


@dataclass(frozen=True)
class Body:
    """A JSON object whose fields are all required and which allows no others."""

    fields: Mapping[str, Field]

    def json_schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {name: spec.json_schema() for name, spec in self.fields.items()},
            "required": list(self.fields),
            "additionalProperties": False,
        }

    def check(self, document: object) -> dict[str, Any]:
        if not isinstance(document, dict):
            raise FacadeError(400, "Request body must be a JSON object")
        for name in document:
            if name not in self.fields:
                raise FacadeError(400, f"Unknown field: {name[:64]}")
        for name, spec in self.fields.items():
            if name not in document:
                raise FacadeError(400, f"Missing field: {name}")
            if not spec.accepts(document[name]):
                raise FacadeError(400, f"Field {name} must be {_WANTED[spec.kind]}")
        return document


_SCHEMAS: dict[Kind, dict[str, Any]] = {
    "string": {"type": "string"},
    "int64": {"type": "integer", "format": "int64", "minimum": INT64_MIN, "maximum": INT64_MAX},
    "strings": {"type": "array", "items": {"type": "string"}},
}
_WANTED: dict[Kind, str] = {
    "string": "a string",
    "int64": "a whole number",
    "strings": "a list of strings",
}


def _is_text(value: object) -> bool:
    """A JSON string protobuf can carry: "\\ud800" decodes to a lone surrogate, which is not UTF-8."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


async def read_json(request: web.Request, body: Body) -> dict[str, Any]:
    """The request's JSON body, checked against `body`; 415, 413 or 400 otherwise."""
    if request.content_type != "application/json" or (request.charset or "utf-8").lower() != "utf-8":
        raise FacadeError(415, "Content-Type must be application/json")
    raw = await request.read()  # aiohttp answers 413 beyond the app's client_max_size
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FacadeError(400, "Request body must be UTF-8") from None
    try:
        document = json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError):  # JSONDecodeError, our refusals below, absurd nesting
        raise FacadeError(400, "Request body must be valid JSON") from None
    return body.check(document)


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Refuses duplicate keys: two parsers must never read one body two ways."""
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("duplicate key")
    return document
