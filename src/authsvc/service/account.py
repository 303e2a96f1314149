"""What a signed-in user does to their own account: list and end their sessions, change their
password. Each call needs a user's access token (an API key has no sessions or password)."""

from __future__ import annotations

from authsvc.domain import pages
from authsvc.domain.audit import AuditEvent, AuditKind
from authsvc.domain.errors import AuthError, ErrorCode, invalid_argument
from authsvc.domain.password_policy import PasswordPolicy
from authsvc.domain.principal import Principal, PrincipalKind
from authsvc.service.login_limits import LoginLimits
from authsvc.service.ports import (
    AuditLog,
    Clock,
    PasswordHasher,
    SessionInfo,
    SessionRepository,
    UnitOfWorkFactory,
    UserRepository,
    WorkspaceMembership,
)


def _own(caller: Principal, what: str) -> str:
    """The caller's session id; INVALID_ARGUMENT for an API key (as Logout answers)."""
    if caller.kind is not PrincipalKind.USER or caller.session_id is None:
        raise invalid_argument(f"{what} needs an access token, not an API key")
    return caller.session_id


class AccountService:
    def __init__(
        self,
        users: UserRepository,
        sessions: SessionRepository,
        hasher: PasswordHasher,
        passwords: PasswordPolicy,
        clock: Clock,
        audit: AuditLog,
        unit_of_work: UnitOfWorkFactory,
        login_limits: LoginLimits,
    ) -> None:
        self._users = users
        self._sessions = sessions
        self._hasher = hasher
        self._passwords = passwords
        self._clock = clock
        self._audit = audit
        self._unit_of_work = unit_of_work
        self._login_limits = login_limits

    async def sessions(self, caller: Principal, size: int = 0, token: str = "") -> pages.Page[SessionInfo]:
        """A page of the caller's live sessions, oldest first (the caller's own among them)."""
        _own(caller, "Listing sessions")
        limit, after = pages.page_size(size), pages.decode(token)
        found = await self._sessions.of_user(caller.user_id, self._clock.now(), after, limit + 1)
        return pages.page_of(found, limit, lambda last: pages.Cursor(last.created_at, last.id))

    async def end_session(self, caller: Principal, session_id: str) -> None:
        """Ends one of the caller's sessions (the current one too: a logout) on every replica;
        NOT_FOUND for any id that is not one of the caller's sessions. Ending an ended one is done."""
        current = _own(caller, "Ending a session")
        now = self._clock.now()
        async with self._unit_of_work() as uow:
            found = await uow.sessions.revoke_of_user(session_id, caller.user_id, now, "ended by its user")
            await uow.commit()
        if not found:
            raise AuthError(ErrorCode.NOT_FOUND, "Session not found")
        detail = "ended by its user" if session_id != current else None
        self._audit.record(
            AuditEvent(AuditKind.LOGOUT, now, caller.user_id, caller.workspace_id, session_id, detail=detail)
        )

    async def workspaces(self, caller: Principal) -> list[WorkspaceMembership]:
        """The workspaces the caller is a member of, oldest membership first."""
        _own(caller, "Listing workspaces")
        return await self._users.workspaces_of(caller.user_id)

    async def end_other_sessions(self, caller: Principal) -> int:
        """Ends every session of the caller but the current one, on every replica; how many."""
        current = _own(caller, "Ending sessions")
        now = self._clock.now()
        async with self._unit_of_work() as uow:
            reason = "others ended by its user"
            ended = await uow.sessions.revoke_all_of_user(caller.user_id, now, reason, current)
            await uow.commit()
        self._audit.record(
            AuditEvent(
                AuditKind.SESSIONS_ENDED, now, caller.user_id, caller.workspace_id, current,
                detail=f"{ended} other session(s) ended by their user",
            )
        )  # fmt: skip
        return ended

    async def change_password(
        self, caller: Principal, current_password: str, new_password: str, client_ip: str
    ) -> int:
        """Sets a new password once the current one is proven, and ends every other session of the
        user on every replica (the caller's own goes on); how many ended.

        Security: a wrong current password counts as a failed login of the account (the same
        budget, so a stolen access token is no faster way to guess the password), and is refused
        with INVALID_ARGUMENT rather than an authentication error, which clients read as "the
        access token is bad". The new password passes the policy before any bcrypt work.
        """
        current = _own(caller, "Changing the password")
        user = await self._users.by_id(caller.user_id)
        if user is None or user.disabled:
            raise AuthError(ErrorCode.TOKEN_INVALID)
        self._passwords.check(new_password, user.email)
        network = self._login_limits.network(client_ip)
        admission = await self._login_limits.admit_account(user.email, network, client_ip)
        if not await self._hasher.verify(current_password, user.password_hash):
            self._audit.record(
                AuditEvent(
                    AuditKind.PASSWORD_CHANGE_FAILED, self._clock.now(), user.id, caller.workspace_id,
                    current, client_ip,
                )
            )  # fmt: skip
            raise invalid_argument("Current password is incorrect")
        await self._login_limits.succeeded(admission)
        new_hash = await self._hasher.hash(new_password)  # before the transaction, not inside it
        now = self._clock.now()
        async with self._unit_of_work() as uow:
            if not await uow.users.set_password_hash(user.id, new_hash):
                raise AuthError(ErrorCode.TOKEN_INVALID)  # disabled meanwhile: nothing changes
            ended = await uow.sessions.revoke_all_of_user(user.id, now, "password changed", current)
            await uow.resets.retire_all(user.id, now)  # a link someone else holds dies with the old password
            await uow.commit()
        self._audit.record(
            AuditEvent(
                AuditKind.PASSWORD_CHANGED, now, user.id, caller.workspace_id, current, client_ip,
                detail=f"{ended} other session(s) ended",
            )
        )  # fmt: skip
        return ended
