"""Per-workspace authentication settings, for workspace admins."""

from __future__ import annotations

from collections.abc import Collection

from authsvc.domain.errors import AuthError, ErrorCode, invalid_argument
from authsvc.domain.permissions import ADMIN_PERMISSION
from authsvc.domain.principal import Principal
from authsvc.domain.tokens import MAX_ACCESS_TTL, MIN_ACCESS_TTL
from authsvc.service.policy import Policy
from authsvc.service.ports import Workspace, WorkspaceRepository

UPDATABLE = ("access_token_ttl_seconds",)


class WorkspaceSettingsService:
    def __init__(self, workspaces: WorkspaceRepository, policy: Policy) -> None:
        self._workspaces = workspaces
        self._policy = policy

    async def get(self, caller: Principal) -> tuple[Workspace, int]:
        """The caller's workspace and the access-token lifetime in force there."""
        _require_admin(caller)
        workspace = await self._workspaces.get(caller.workspace_id)
        if workspace is None:
            raise AuthError(ErrorCode.NOT_FOUND, "Workspace not found")
        return workspace, workspace.access_token_ttl or self._policy.access_token_ttl

    async def update(
        self, caller: Principal, access_token_ttl: int, fields: Collection[str] = ()
    ) -> tuple[Workspace, int]:
        """Changes the `fields` named (AIP-134 update mask; none named: all of them)."""
        _require_admin(caller)
        unknown = sorted(set(fields) - set(UPDATABLE))
        if unknown:
            raise invalid_argument(f"Cannot update {unknown[0][:64]}: only {', '.join(UPDATABLE)}")
        if fields and "access_token_ttl_seconds" not in fields:
            return await self.get(caller)
        if not MIN_ACCESS_TTL <= access_token_ttl <= MAX_ACCESS_TTL:
            raise invalid_argument(
                f"access_token_ttl_seconds must be between {MIN_ACCESS_TTL} and {MAX_ACCESS_TTL}"
            )
        workspace = await self._workspaces.set_access_token_ttl(caller.workspace_id, access_token_ttl)
        if workspace is None:
            raise AuthError(ErrorCode.NOT_FOUND, "Workspace not found")
        return workspace, access_token_ttl


def _require_admin(caller: Principal) -> None:
    if ADMIN_PERMISSION not in caller.permissions:
        raise AuthError(ErrorCode.PERMISSION_DENIED)
