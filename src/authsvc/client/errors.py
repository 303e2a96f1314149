"""The SDK's one error: a refused or failed validation, as its gRPC status and a safe text."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from authsvc.v1 import auth_pb2


class AuthClientError(Exception):
    """A refused or failed validation: `code` is the gRPC status, `detail` the safe text."""

    def __init__(
        self,
        code: grpc.StatusCode,
        detail: str,
        retry_after: int | None = None,
        limits: Sequence[auth_pb2.RateLimitState] = (),
    ) -> None:
        super().__init__(f"{code.name}: {detail}")
        self.code = code
        self.detail = detail
        self.retry_after = retry_after  # RESOURCE_EXHAUSTED: whole seconds to wait, when told
        self.limits = list(limits)  # a metered refusal: where each limit stands


# What a protected service answers when AuthService could not check a credential (503).
UNAVAILABLE = "Service unavailable"
# What a request without Bearer credentials is answered (401 / UNAUTHENTICATED).
NOT_AUTHENTICATED = "Not authenticated"
# What a request with more than one Authorization header (metadata entry) is answered (400).
MALFORMED_AUTHORIZATION = "Malformed Authorization header"
