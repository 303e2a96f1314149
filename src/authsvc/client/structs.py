"""google.protobuf.Struct ⇄ plain JSON values, as an API key's metadata travels."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format
from google.protobuf.struct_pb2 import Struct

from authsvc.domain.errors import invalid_argument

_EXACT = 2**53  # beyond this a double no longer holds every whole number


def json_object(message: Struct) -> dict[str, Any]:
    """A Struct as JSON values, whole numbers as ints: a Struct keeps every number as a double,
    so `{"seats": 5}` would otherwise come back as `{"seats": 5.0}`."""
    return {key: _plain(item) for key, item in json_format.MessageToDict(message).items()}


def checked_json_object(message: Struct, name: str) -> dict[str, Any]:
    """`json_object`, for a request: a Struct holding NaN or infinity (no JSON value) is
    INVALID_ARGUMENT naming the field, not a failure of the call."""
    try:
        return json_object(message)
    except ValueError:
        raise invalid_argument(f"{name} must hold JSON values only (finite numbers)") from None


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) <= _EXACT:
        return int(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value
