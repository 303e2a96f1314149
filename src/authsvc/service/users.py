"""Creating users: the CLI and the first-start bootstrap admin."""

from __future__ import annotations

import logging
from collections.abc import Callable

from authsvc.domain.audit import AuditEvent, AuditKind
from authsvc.domain.errors import AuthError, ErrorCode, invalid_argument
from authsvc.domain.password_policy import PasswordPolicy
from authsvc.domain.permissions import Role
from authsvc.domain.validation import check_name, normalise_email
from authsvc.service.ports import (
    AuditLog,
    Clock,
    PasswordHasher,
    UnitOfWorkFactory,
    UserRecord,
    UserRepository,
)

log = logging.getLogger(__name__)


def _role(name: str) -> Role:
    try:
        return Role(name)
    except ValueError:
        raise invalid_argument("Role must be one of admin, member, viewer") from None


class UserService:
    def __init__(
        self,
        users: UserRepository,
        hasher: PasswordHasher,
        audit: AuditLog,
        clock: Clock,
        unit_of_work: UnitOfWorkFactory,
        passwords: PasswordPolicy,
    ) -> None:
        self._passwords = passwords
        self._audit = audit
        self._clock = clock
        self._users = users
        self._hasher = hasher
        self._unit_of_work = unit_of_work

    async def create(self, email: str, password: str, role: str, workspace_name: str) -> UserRecord:
        """Creates a user in `workspace_name` (made if new); ALREADY_EXISTS for a taken email."""
        normalised = normalise_email(email)
        self._passwords.check(password, normalised)
        parsed_role = _role(role)
        name = check_name(workspace_name)
        password_hash = await self._hasher.hash(password)  # before the transaction, not inside it
        async with self._unit_of_work() as uow:  # a refused user leaves no new workspace behind
            workspace = await uow.users.workspace_named(name)
            user = await uow.users.create(workspace, normalised, password_hash, parsed_role)
            await uow.commit()
        return user

    async def add_to_workspace(self, email: str, role: str, workspace_name: str) -> None:
        """Makes an existing user a member of `workspace_name` (made if new) with `role`; NOT_FOUND
        for an unknown email, ALREADY_EXISTS for a member already."""
        normalised = normalise_email(email)
        parsed_role = _role(role)
        name = check_name(workspace_name)
        user = await self._users.by_email(normalised)
        if user is None:
            raise AuthError(ErrorCode.NOT_FOUND, "No such user")
        async with self._unit_of_work() as uow:
            workspace = await uow.users.workspace_named(name)
            if not await uow.users.add_membership(user.id, workspace.id, parsed_role):
                raise AuthError(ErrorCode.ALREADY_EXISTS, "Already a member of this workspace")
            await uow.commit()
        self._audit.record(
            AuditEvent(
                AuditKind.MEMBER_ADDED, self._clock.now(), None, workspace.id, user.id,
                detail=f"as {parsed_role.value}, by the operator",
            )
        )  # fmt: skip

    async def disable(self, email: str | None = None, user_id: str | None = None) -> None:
        """Disables a user at once: its logins, access tokens and API keys all stop working.

        By email (in its normal form), or by id: a row whose stored email is no longer accepted
        (migration 0009 reports them by id) has no email to be found by.
        """
        async with self._unit_of_work() as uow:
            if email is not None:
                found = await uow.users.disable(email=normalise_email(email))
            else:
                found = await uow.users.disable(user_id=user_id)
            await uow.commit()
        if found is None:
            raise AuthError(ErrorCode.NOT_FOUND, "No such user")
        self._audit.record(
            AuditEvent(AuditKind.USER_DISABLED, self._clock.now(), user_id=found, detail=email or found)
        )

    async def any_exist(self) -> bool:
        return await self._users.count() > 0

    async def ensure_first_admin(
        self, email: str, password: str | None, workspace: str, make_password: Callable[[], str]
    ) -> str | None:
        """On a database with no users, creates an admin; returns its password if it was made here
        (`make_password`, when none is given), for the caller to show once, never the given one.

        None when users exist already, including when another replica starting at the same
        moment created the admin first.
        """
        if await self.any_exist():
            return None
        made = make_password() if password is None else None
        try:
            await self.create(email, password or made or "", "admin", workspace)
        except AuthError as error:
            if error.code is ErrorCode.ALREADY_EXISTS:  # another replica got there first
                return None
            raise
        log.info("created the first admin in workspace %s", workspace)
        return made
