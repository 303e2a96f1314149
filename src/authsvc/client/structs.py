"""google.protobuf.Struct ⇄ plain JSON values, as an API key's metadata travels."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct

_EXACT = 2**53  # beyond this a double no longer holds every whole number


def json_object(message: Struct) -> dict[str, Any]:
    """A Struct as JSON values, whole numbers as ints: a Struct keeps every number as a double,
    so `{"seats": 5}` would otherwise come back as `{"seats": 5.0}`."""
    return {key: _plain(item) for key, item in json_format.MessageToDict(message).items()}


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) <= _EXACT:
        return int(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value
