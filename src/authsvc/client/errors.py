"""The SDK's one error: a refused or failed validation, as its gRPC status and a safe text."""

from __future__ import annotations

import grpc


class AuthClientError(Exception):
    """A refused or failed validation: `code` is the gRPC status, `detail` the safe text."""

    def __init__(self, code: grpc.StatusCode, detail: str) -> None:
        super().__init__(f"{code.name}: {detail}")
        self.code = code
        self.detail = detail
