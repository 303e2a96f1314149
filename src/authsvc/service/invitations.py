"""Invitations to join a workspace: a workspace admin invites an address with a role; whoever
holds the one-time token accepts it once, within the workspace's invitation lifetime, and gets a
token pair for that workspace. A new address sets its password then; an existing account proves
its own (an invitation never sets the password of an account that exists).

The token goes by mail when mail is configured for invitations (AUTHSVC_SMTP_URL and
AUTHSVC_INVITATION_URL), through the outbox, so a mail server that is away never fails the call;
otherwise the admin is shown it this once, to hand over.

Security: a token is 256 random bits stored only as its SHA-256; an unknown, expired, used or
withdrawn one is refused with the same words. Inviting an address again withdraws its earlier
invitations to the workspace. Inviting and accepting count against the client's network and the
address (429 past the limit); a wrong password on accepting counts as a failed login of the
account, as on login. Nothing is written before every check has passed.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from authsvc.domain import pages
from authsvc.domain.audit import AuditEvent, AuditKind
from authsvc.domain.errors import AuthError, ErrorCode, invalid_argument
from authsvc.domain.mail import invitation_mail
from authsvc.domain.password_policy import PasswordPolicy
from authsvc.domain.permissions import ADMIN_PERMISSION, Role
from authsvc.domain.principal import Principal
from authsvc.domain.validation import normalise_email
from authsvc.service.limits import Limits
from authsvc.service.login_limits import LoginLimits
from authsvc.service.policy import Policy
from authsvc.service.ports import (
    AuditLog,
    ClientDetails,
    Clock,
    InvitationRecord,
    InvitationRepository,
    PasswordHasher,
    UnitOfWorkFactory,
    UserRepository,
)
from authsvc.service.sessions import SessionService
from authsvc.service.tokens import TokenPair

TOKEN_PREFIX = "inv_"
_TOKEN_LENGTH = len(TOKEN_PREFIX) + 43  # token_urlsafe(32)
INVALID_TOKEN = "Invalid or expired token"
ALREADY_MEMBER = "Already a member of this workspace"


@dataclass(frozen=True, slots=True)
class Invited:
    invitation: InvitationRecord
    token: str | None  # shown to the admin when no mail carries it


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "replace")).digest()


def _require_admin(caller: Principal) -> None:
    """`workspace:admin`, and never through a secret a rotation replaced (as for keys)."""
    if ADMIN_PERMISSION not in caller.permissions or caller.superseded:
        raise AuthError(ErrorCode.PERMISSION_DENIED)


def _role(name: str) -> Role:
    try:
        return Role(name)
    except ValueError:
        raise invalid_argument("Role must be one of admin, member, viewer") from None


class Invitations:
    def __init__(
        self,
        users: UserRepository,
        invitations: InvitationRepository,
        sessions: SessionService,
        hasher: PasswordHasher,
        passwords: PasswordPolicy,
        clock: Clock,
        audit: AuditLog,
        unit_of_work: UnitOfWorkFactory,
        limits: Limits,
        login_limits: LoginLimits,
        policy: Policy,
        link: str | None = None,
    ) -> None:
        self._link = link  # the page an invitation link opens, {token} in it; None: no mail
        self._users = users
        self._invitations = invitations
        self._sessions = sessions
        self._hasher = hasher
        self._passwords = passwords
        self._clock = clock
        self._audit = audit
        self._unit_of_work = unit_of_work
        self._limits = limits
        self._login_limits = login_limits
        self._policy = policy

    async def invite(self, caller: Principal, email: str, role_name: str, client_ip: str) -> Invited:
        """Invites `email` to the caller's workspace with a role (needs `workspace:admin`); earlier
        open invitations of the address to it are withdrawn. CONFLICT for a member already."""
        _require_admin(caller)
        role = _role(role_name)
        address = normalise_email(email)
        network = self._login_limits.network(client_ip)
        limit = self._policy.invitation_limit
        await self._limits.take("invite-ip", network, limit, client_ip)
        await self._limits.take("invite-email", address, limit, client_ip)
        existing = await self._users.by_email(address, caller.workspace_id)
        if existing is not None and existing.membership is not None:
            raise AuthError(ErrorCode.CONFLICT, ALREADY_MEMBER)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._clock.now()
        expires_at = now + timedelta(seconds=self._policy.invitation_lifetime)
        async with self._unit_of_work() as uow:
            held = await uow.members.hold(caller.user_id, caller.workspace_id)
            if held is None or held.role is not Role.ADMIN:  # removed or demoted since the check
                raise AuthError(ErrorCode.TOKEN_INVALID)
            record = await uow.invitations.add(
                _digest(token), caller.workspace_id, address, role, caller.user_id or None, now, expires_at
            )
            if self._link is not None:
                workspace = await uow.users.workspace(caller.workspace_id)
                link = self._link.replace("{token}", token)
                mail = invitation_mail(address, workspace.name, role.value, link, expires_at)
                await uow.outbox.add(mail, now, expires_at)
            await uow.commit()
        self._audit.record(
            AuditEvent(
                AuditKind.MEMBER_INVITED, now, caller.user_id or None, caller.workspace_id, record.id,
                client_ip,
                detail=f"{address} as {role.value}, by {caller.kind.value} {caller.subject_id}",
            )
        )  # fmt: skip
        return Invited(record, None if self._link is not None else token)

    async def pending(
        self, caller: Principal, size: int = 0, token: str = ""
    ) -> pages.Page[InvitationRecord]:
        """A page of the caller's workspace's open invitations (not accepted, withdrawn or
        expired), oldest first (needs `workspace:admin`)."""
        _require_admin(caller)
        limit, after = pages.page_size(size), pages.decode(token)
        found = await self._invitations.open_in(caller.workspace_id, self._clock.now(), after, limit + 1)
        return pages.page_of(found, limit, lambda last: pages.Cursor(last.created_at, last.id))

    async def withdraw(self, caller: Principal, invitation_id: str) -> None:
        """Withdraws an open invitation of the caller's workspace (needs `workspace:admin`): its
        token stops working. NOT_FOUND for any other id."""
        _require_admin(caller)
        now = self._clock.now()
        async with self._unit_of_work() as uow:
            found = await uow.invitations.withdraw(caller.workspace_id, invitation_id, now)
            await uow.commit()
        if not found:
            raise AuthError(ErrorCode.NOT_FOUND, "Invitation not found")
        self._audit.record(
            AuditEvent(
                AuditKind.INVITATION_WITHDRAWN, now, caller.user_id or None, caller.workspace_id,
                invitation_id,
            )
        )  # fmt: skip

    async def accept(
        self, token: str, password: str, client_ip: str, user_agent: str | None = None
    ) -> TokenPair:
        """Accepts an invitation: a new account is made with `password` (the policy applies), or an
        existing one proves it is theirs with it; either way the account becomes a member of the
        workspace with the invited role, and gets a token pair for it.

        INVALID_ARGUMENT "Invalid or expired token" for any token that cannot be used, whatever
        the reason; INVALID_CREDENTIALS for a wrong password of an existing (or disabled) account,
        which leaves the invitation usable; CONFLICT for a member already."""
        network = self._login_limits.network(client_ip)
        limit = self._policy.invitation_limit
        await self._limits.take("invitation-accept-ip", network, limit, client_ip)  # before any other work
        if not (token.startswith(TOKEN_PREFIX) and len(token) == _TOKEN_LENGTH):
            raise invalid_argument(INVALID_TOKEN)
        digest, now = _digest(token), self._clock.now()
        found = await self._invitations.find(digest)
        if found is None or not found.open_at(now):
            raise invalid_argument(INVALID_TOKEN)
        await self._limits.take("invitation-accept-email", found.email, limit, client_ip)
        user = await self._users.by_email(found.email, found.workspace_id)
        new_hash: str | None = None
        if user is None:
            self._passwords.check(password, found.email)
            new_hash = await self._hasher.hash(password)  # before the transaction, not inside it
        else:
            admission = await self._login_limits.admit_account(found.email, network, client_ip)
            if not await self._hasher.verify(password, user.password_hash) or user.disabled:
                self._audit.record(
                    AuditEvent(
                        AuditKind.LOGIN_FAILED, self._clock.now(), user.id, found.workspace_id,
                        client_ip=client_ip, detail="accepting an invitation",
                    )
                )  # fmt: skip
                raise AuthError(ErrorCode.INVALID_CREDENTIALS)
            await self._login_limits.succeeded(admission)
            if user.membership is not None:
                raise AuthError(ErrorCode.CONFLICT, ALREADY_MEMBER)
        now = self._clock.now()
        async with self._unit_of_work() as uow:
            if not await uow.invitations.claim(digest, now):  # of two acceptances, one wins
                raise invalid_argument(INVALID_TOKEN)  # nothing is committed
            if new_hash is not None:
                workspace = await uow.users.workspace(found.workspace_id)
                created = await uow.users.create(workspace, found.email, new_hash, found.role)
                user_id = created.id
            else:
                assert user is not None
                user_id = user.id
                if not await uow.users.add_membership(user_id, found.workspace_id, found.role):
                    raise AuthError(ErrorCode.CONFLICT, ALREADY_MEMBER)
            await uow.invitations.accepted_by(digest, user_id)
            await uow.commit()
        self._audit.record(
            AuditEvent(
                AuditKind.MEMBER_ADDED, now, user_id, found.workspace_id, user_id, client_ip,
                detail=f"as {found.role.value}, accepting invitation {found.id}",
            )
        )  # fmt: skip
        joined = await self._users.by_id(user_id, found.workspace_id)
        assert joined is not None
        _, pair = await self._sessions.start_session(joined, ClientDetails(client_ip, user_agent))
        return pair
