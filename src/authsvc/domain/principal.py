"""Who a validated token or API key stands for."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from authsvc.domain.plans import Limits


class PrincipalKind(enum.Enum):
    USER = "user"
    API_KEY = "api_key"


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    subject_id: str
    user_id: str
    workspace_id: str
    permissions: frozenset[str]
    session_id: str | None = None
    api_key_id: str | None = None
    expires_at: datetime | None = None
    environment: str | None = None  # an API key's ("live", "test"); None for users
    key_name: str | None = None  # an API key's name; None for users
    metadata: str | None = None  # an API key's metadata (compact JSON object text); None for users
    key_limits: Limits | None = None  # an API key's own request limits, if it has any
    # An API key's previous secret, still honoured during a rotation's overlap (until then): it
    # may call APIs, never manage keys (or a leaked old secret could rotate the new one away).
    secret_ends_at: datetime | None = None
    # Hashed once: principals key the reply cache on the ValidateToken hot path.
    _hash: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self) -> None:
        fields = (self.kind.value, self.subject_id, self.user_id, self.workspace_id, self.permissions)
        rest = (
            self.session_id,
            self.api_key_id,
            self.expires_at,
            self.environment,
            self.key_name,
            self.metadata,
            self.key_limits,
            self.secret_ends_at,
        )
        object.__setattr__(self, "_hash", hash((*fields, *rest)))

    def __hash__(self) -> int:
        return self._hash

    @property
    def superseded(self) -> bool:
        return self.secret_ends_at is not None
