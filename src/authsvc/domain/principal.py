"""Who a validated token or API key stands for."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


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
