"""Who a request to a protected service comes from, as the SDK hands it to handlers: plain Python
values (kind and environment as strings, metadata as JSON values), whatever answered the check."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from google.protobuf import json_format

from authsvc.client.structs import json_object
from authsvc.domain.permissions import holds
from authsvc.v1 import auth_pb2

Kind = Literal["user", "api_key"]
Environment = Literal["live", "test"]
_KINDS: dict[int, Kind] = {auth_pb2.PRINCIPAL_KIND_USER: "user", auth_pb2.PRINCIPAL_KIND_API_KEY: "api_key"}
_ENVIRONMENTS: dict[int, Environment] = {auth_pb2.ENVIRONMENT_LIVE: "live", auth_pb2.ENVIRONMENT_TEST: "test"}


@dataclass(frozen=True, slots=True)
class Principal:
    """A user (behind an access token) or an API key, in the workspace the credential acts in."""

    kind: Kind
    subject_id: str  # the user id for users, the key id for API keys
    user_id: str  # the user, or for an API key the user who created it
    workspace_id: str
    permissions: frozenset[str]
    session_id: str | None = None  # users: the login session behind the token
    api_key_id: str | None = None
    api_key_name: str | None = None
    environment: Environment | None = None  # API keys only
    metadata: Mapping[str, Any] = field(default_factory=dict)  # API keys: what their creator attached
    expires_at: datetime | None = None  # the token's expiry; an API key's, if it has one

    @property
    def is_api_key(self) -> bool:
        return self.kind == "api_key"

    @property
    def is_user(self) -> bool:
        return self.kind == "user"

    def has_permission(self, *permissions: str) -> bool:
        """Whether every one of `permissions` is held, by AuthService's own rule."""
        return holds(self.permissions, permissions)

    def to_message(self) -> auth_pb2.Principal:
        """The principal as AuthService's ValidateToken would have answered it."""
        message = auth_pb2.Principal(
            kind=f"PRINCIPAL_KIND_{self.kind.upper()}",
            subject_id=self.subject_id,
            user_id=self.user_id,
            workspace_id=self.workspace_id,
            permissions=sorted(self.permissions),
            session_id=self.session_id or "",
            api_key_id=self.api_key_id or "",
            environment=f"ENVIRONMENT_{(self.environment or 'unspecified').upper()}",
            api_key_name=self.api_key_name or "",
        )
        if self.expires_at is not None:
            message.expires_at.FromDatetime(self.expires_at)
        if self.is_api_key:
            json_format.ParseDict(dict(self.metadata), message.metadata)
        return message

    @classmethod
    def from_message(cls, message: auth_pb2.Principal) -> Principal:
        kind = _KINDS.get(message.kind)
        if kind is None:  # a kind this SDK does not know: never guess what it may do
            raise ValueError(f"unknown principal kind {message.kind}")
        expires_at = None
        if message.HasField("expires_at"):
            expires_at = datetime.fromtimestamp(message.expires_at.seconds, UTC)
        return cls(
            kind=kind,
            subject_id=message.subject_id,
            user_id=message.user_id,
            workspace_id=message.workspace_id,
            permissions=frozenset(message.permissions),
            session_id=message.session_id or None,
            api_key_id=message.api_key_id or None,
            api_key_name=message.api_key_name or None,
            environment=_ENVIRONMENTS.get(message.environment),
            metadata=json_object(message.metadata) if message.HasField("metadata") else {},
            expires_at=expires_at,
        )
