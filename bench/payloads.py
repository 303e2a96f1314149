"""Pre-encoded gRPC requests (length-prefixed protobuf), written once per run for the load tools."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable
from pathlib import Path

from google.protobuf.message import Message

from authsvc.domain import api_key_format
from authsvc.v1 import auth_pb2
from bench.h2wire import grpc_message

SERVICE = "/authsvc.v1.AuthService/"
REQUIRED = ("geofences:read",)  # what a typical internal caller asks to be held


def validate(token: str, cost: int = 0) -> Message:
    return auth_pb2.ValidateTokenRequest(token=token, required_permissions=list(REQUIRED), cost=cost)


def refresh(token: str) -> Message:
    return auth_pb2.RefreshRequest(refresh_token=token)


def login(email: str, password: str) -> Message:
    return auth_pb2.LoginRequest(email=email, password=password)


def write(path: Path, messages: Iterable[Message]) -> Path:
    """One file of concatenated gRPC messages: h2load's `-d` body when it holds one."""
    path.write_bytes(b"".join(grpc_message(m.SerializeToString()) for m in messages))
    return path


def garbage() -> str:
    return secrets.token_urlsafe(48)


def bad_signature(token: str) -> str:
    """The same header and claims, a random signature of the right size: well formed, but forged."""
    head, _, signature = token.rpartition(".")
    size = len(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    return f"{head}.{base64.urlsafe_b64encode(secrets.token_bytes(size)).rstrip(b'=').decode('ascii')}"


def unknown_api_key() -> str:
    """Right shape and checksum, so only a lookup can tell it is unknown."""
    return api_key_format.generate("live")
