"""A workspace's members, managed by its admins: listing (also with `members:read`), changing a
member's role, removing a member. A workspace always keeps at least one enabled admin.

Each change touches the member's standing in the caller's workspace only (a user may belong to
several): a role change ends their sessions in it on every replica at once (their tokens carry the
old role's scope; the next login or switch carries the new one) and takes from the keys they made
in it every permission the new role lacks; a removal ends those sessions and revokes those keys.
The account itself, and its other memberships, go on.
"""

from __future__ import annotations

from authsvc.domain import pages
from authsvc.domain.audit import AuditEvent, AuditKind
from authsvc.domain.errors import AuthError, ErrorCode, invalid_argument
from authsvc.domain.permissions import ADMIN_PERMISSION, MEMBERS_READ, Role, role_permissions
from authsvc.domain.principal import Principal
from authsvc.service.policy import Policy
from authsvc.service.ports import AuditLog, Clock, MemberRecord, MemberRepository, UnitOfWorkFactory

LAST_ADMIN = "A workspace keeps at least one admin"


def _require_admin(caller: Principal) -> None:
    """`workspace:admin`, and never through a secret a rotation replaced (as for keys)."""
    if ADMIN_PERMISSION not in caller.permissions or caller.superseded:
        raise AuthError(ErrorCode.PERMISSION_DENIED)


def _role(name: str) -> Role:
    try:
        return Role(name)
    except ValueError:
        raise invalid_argument("Role must be one of admin, member, viewer") from None


class MembersService:
    def __init__(
        self,
        members: MemberRepository,
        clock: Clock,
        audit: AuditLog,
        unit_of_work: UnitOfWorkFactory,
        policy: Policy,
    ) -> None:
        self._members = members
        self._clock = clock
        self._audit = audit
        self._unit_of_work = unit_of_work
        self._policy = policy

    async def list(self, caller: Principal, size: int = 0, token: str = "") -> pages.Page[MemberRecord]:
        """A page of the caller's workspace's members, oldest first (`workspace:admin` or
        `members:read`)."""
        if ADMIN_PERMISSION not in caller.permissions and MEMBERS_READ not in caller.permissions:
            raise AuthError(ErrorCode.PERMISSION_DENIED)
        limit, after = pages.page_size(size), pages.decode(token)
        found = await self._members.of_workspace(caller.workspace_id, after, limit + 1)
        return pages.page_of(found, limit, lambda last: pages.Cursor(last.joined_at, last.user_id))

    async def change_role(self, caller: Principal, user_id: str, role_name: str) -> MemberRecord:
        """Gives a member another role; NOT_FOUND for anyone not an enabled member of the caller's
        workspace, CONFLICT for the last admin's demotion. The same role changes nothing."""
        _require_admin(caller)
        role = _role(role_name)
        now = self._clock.now()
        async with self._unit_of_work() as uow:
            admins = await uow.members.lock_admins(caller.workspace_id)
            member = await uow.members.get(caller.workspace_id, user_id)
            if member is None or member.disabled:
                raise AuthError(ErrorCode.NOT_FOUND, "Member not found")
            if member.role is role:
                return member
            if member.user_id in admins and admins == {member.user_id}:
                raise AuthError(ErrorCode.CONFLICT, LAST_ADMIN)
            workspace = caller.workspace_id
            await uow.members.set_role(member.user_id, workspace, role)
            allowed = role_permissions(role, self._policy.known_permissions)
            await uow.members.narrow_keys_of(member.user_id, workspace, allowed)
            ended = await uow.sessions.revoke_all_of_user(
                member.user_id, now, "role changed", None, workspace
            )
            if role is not Role.ADMIN:  # what they invited as an admin no longer stands
                await uow.invitations.retire_made_by(member.user_id, workspace, now)
            await uow.commit()
        self._audit.record(
            AuditEvent(
                AuditKind.MEMBER_ROLE_CHANGED, now, caller.user_id, caller.workspace_id, member.user_id,
                detail=f"{member.role.value} to {role.value}, {ended} session(s) ended",
            )
        )  # fmt: skip
        return MemberRecord(
            member.user_id, member.email, role, member.disabled, member.joined_at, member.last_login_at
        )

    async def remove(self, caller: Principal, user_id: str) -> None:
        """Removes a member from the caller's workspace: their sessions in it end and the keys they
        made in it are revoked, on every replica at once (a disabled user's membership can go too).
        NOT_FOUND for anyone not a member of it; CONFLICT for the last enabled admin."""
        _require_admin(caller)
        now = self._clock.now()
        async with self._unit_of_work() as uow:
            admins = await uow.members.lock_admins(caller.workspace_id)
            member = await uow.members.get(caller.workspace_id, user_id)
            if member is None:
                raise AuthError(ErrorCode.NOT_FOUND, "Member not found")
            if admins == {member.user_id}:
                raise AuthError(ErrorCode.CONFLICT, LAST_ADMIN)
            await uow.members.remove(member.user_id, caller.workspace_id, now)
            await uow.invitations.retire_made_by(member.user_id, caller.workspace_id, now)
            ended = await uow.sessions.revoke_all_of_user(
                member.user_id, now, "removed from workspace", None, caller.workspace_id
            )
            await uow.commit()
        self._audit.record(
            AuditEvent(
                AuditKind.MEMBER_REMOVED, now, caller.user_id, caller.workspace_id, member.user_id,
                detail=f"{ended} session(s) ended",
            )
        )  # fmt: skip
