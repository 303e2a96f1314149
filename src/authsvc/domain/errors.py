"""The one error vocabulary of authsvc: every failure a caller can see is an AuthError."""

from __future__ import annotations

import enum


class ErrorCode(enum.Enum):
    INVALID_CREDENTIALS = "invalid_credentials"
    UNAUTHENTICATED = "unauthenticated"
    TOKEN_EXPIRED = "token_expired"
    TOKEN_INVALID = "token_invalid"
    PERMISSION_DENIED = "permission_denied"
    INVALID_ARGUMENT = "invalid_argument"
    NOT_FOUND = "not_found"
    ALREADY_EXISTS = "already_exists"
    CONFLICT = "conflict"  # the change would break a rule of what exists (a workspace's last admin)
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"

    # Members are singletons compared by identity, so the identity hash is the right one, and it
    # is C code where Enum's own is Python: every refusal looks its code up in a table or two.
    __hash__ = object.__hash__


# The user-facing texts. The first four are promised by the public authentication page.
DEFAULT_DETAIL: dict[ErrorCode, str] = {
    ErrorCode.INVALID_CREDENTIALS: "Invalid credentials",
    ErrorCode.UNAUTHENTICATED: "Not authenticated",
    ErrorCode.TOKEN_EXPIRED: "Token expired",
    ErrorCode.TOKEN_INVALID: "Invalid or expired token",
    ErrorCode.PERMISSION_DENIED: "Insufficient permissions",
    ErrorCode.INVALID_ARGUMENT: "Invalid request",
    ErrorCode.NOT_FOUND: "Not found",
    ErrorCode.ALREADY_EXISTS: "Already exists",
    ErrorCode.CONFLICT: "Conflict",
    ErrorCode.RATE_LIMITED: "Rate limit exceeded",
    ErrorCode.UNAVAILABLE: "Service unavailable",
}


class AuthError(Exception):
    """A failure with a code that each boundary maps once, and a detail safe to show a caller.

    The detail never holds a secret, a stack trace or a database message.
    """

    def __init__(
        self,
        code: ErrorCode,
        detail: str | None = None,
        retry_after: int | None = None,
        limits: tuple[object, ...] = (),
    ) -> None:
        self.code = code
        self.detail = detail if detail is not None else DEFAULT_DETAIL[code]
        self.retry_after = retry_after  # whole seconds, for RATE_LIMITED
        self.limits = limits  # for RATE_LIMITED by metering: the plans.BudgetState of each budget
        super().__init__(code, self.detail)

    def __str__(self) -> str:  # made only when asked for: refusals are the attacker's hot path
        return f"{self.code.value}: {self.detail}"


def invalid_argument(detail: str) -> AuthError:
    return AuthError(ErrorCode.INVALID_ARGUMENT, detail)
