"""Password resets by one-time token: mailed to the account's address when asked for (with SMTP
configured), or issued by a workspace admin for a member (what a deployment without mail does);
whoever holds it sets a new password once, within RESET_TOKEN_LIFETIME. Every session ends.

Asking (`request`) answers the same, in the same time, whether or not the address has an account
(OWASP's Forgot Password advice): only the rate limits are taken before the answer; the lookup,
the token and the queued mail happen after it, in the background.

Security: a token is 256 random bits, stored only as its SHA-256, single use (a new one retires the
one before), and an unknown, expired, used or superseded one is refused with the same words.
Confirmations count against the client's network and the account (429 past the limit). A refused
new password leaves the token usable. A workspace admin can take over a member's account this way,
as an admin could by other means; so an admin issues one only for a member of their workspace
alone: a password opens every workspace of its user, and one workspace's admin must not get into
the others.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from datetime import datetime, timedelta

from authsvc.domain.audit import AuditEvent, AuditKind
from authsvc.domain.errors import AuthError, ErrorCode, invalid_argument
from authsvc.domain.mail import reset_mail
from authsvc.domain.password_policy import PasswordPolicy
from authsvc.domain.permissions import ADMIN_PERMISSION
from authsvc.domain.principal import Principal
from authsvc.domain.validation import normalise_email
from authsvc.service.limits import Limits
from authsvc.service.login_limits import LoginLimits
from authsvc.service.policy import Policy
from authsvc.service.ports import (
    AuditLog,
    Clock,
    PasswordHasher,
    PasswordResetRepository,
    UnitOfWorkFactory,
    UserRepository,
)

log = logging.getLogger(__name__)
RESET_TOKEN_LIFETIME = timedelta(minutes=30)
TOKEN_PREFIX = "pwr_"
_TOKEN_LENGTH = len(TOKEN_PREFIX) + 43  # token_urlsafe(32)
INVALID_TOKEN = "Invalid or expired token"
OTHER_WORKSPACES = "This member belongs to other workspaces too: only they can reset their password"


def _one_workspace(workspaces: set[str], issued_in: str | None) -> bool:
    """Whether an admin's token may still set the password: the user is a member of one workspace
    only, the admin's (when the token says which; a previous release's tokens do not)."""
    return len(workspaces) == 1 and (issued_in is None or issued_in in workspaces)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "replace")).digest()


class PasswordResets:
    def __init__(
        self,
        users: UserRepository,
        resets: PasswordResetRepository,
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
        self._link = link  # the reset page, {token} where the token goes; None: no mail is sent
        self._mailing: set[asyncio.Task[None]] = set()
        self._users = users
        self._resets = resets
        self._hasher = hasher
        self._passwords = passwords
        self._clock = clock
        self._audit = audit
        self._unit_of_work = unit_of_work
        self._limits = limits
        self._login_limits = login_limits
        self._policy = policy

    async def issue_for_member(self, caller: Principal, user_id: str) -> tuple[str, datetime]:
        """A reset token for a member of the caller's workspace (needs `workspace:admin`), shown to
        the caller this once, and when it expires. NOT_FOUND for anyone else, disabled users too;
        CONFLICT for a member of other workspaces as well, whose password the admin of one must
        not be able to set (they reset it themselves, by mail)."""
        if ADMIN_PERMISSION not in caller.permissions or caller.superseded:  # no rotated-out secret
            raise AuthError(ErrorCode.PERMISSION_DENIED)
        user = await self._users.by_id(user_id, caller.workspace_id)
        if user is None or user.membership is None or user.disabled:
            raise AuthError(ErrorCode.NOT_FOUND, "Member not found")
        if user.workspaces > 1:  # a password opens every workspace: no admin of one may set it
            raise AuthError(ErrorCode.CONFLICT, OTHER_WORKSPACES)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._clock.now()
        expires_at = now + RESET_TOKEN_LIFETIME
        async with self._unit_of_work() as uow:
            await uow.resets.issue(
                _digest(token),
                user.id,
                caller.user_id,
                now,
                expires_at,
                retire=True,
                workspace_id=caller.workspace_id,
            )
            await uow.commit()
        self._audit.record(  # the admin acted, on the member
            AuditEvent(
                AuditKind.PASSWORD_RESET_ISSUED, now, caller.user_id, caller.workspace_id, user.id,
                detail=f"by {caller.kind.value} {caller.subject_id}",
            )
        )  # fmt: skip
        return token, expires_at

    async def request(self, email: str, client_ip: str) -> None:
        """Asks for a reset link for `email`: mailed if the address has an enabled account and
        mail is configured, nothing otherwise, and the same answer either way. RATE_LIMITED past
        the limit per client network and per address; INVALID_ARGUMENT for what is no address."""
        network = self._login_limits.network(client_ip)
        limit = self._policy.password_reset_limit
        await self._limits.take("reset-request-ip", network, limit, client_ip)
        address = normalise_email(email)
        await self._limits.take("reset-request-account", address, limit, client_ip)
        if self._link is None:
            log.info("password reset asked for, but no mail is configured (AUTHSVC_SMTP_URL)")
            return
        task = asyncio.get_running_loop().create_task(self._mail_link(address, client_ip))
        self._mailing.add(task)
        task.add_done_callback(self._mailing.discard)

    async def _mail_link(self, address: str, client_ip: str) -> None:
        try:
            user = await self._users.by_email(address)
            if user is None or user.disabled:
                return
            token = TOKEN_PREFIX + secrets.token_urlsafe(32)
            now = self._clock.now()
            expires_at = now + RESET_TOKEN_LIFETIME
            assert self._link is not None
            mail = reset_mail(
                user.email, self._link.replace("{token}", token), RESET_TOKEN_LIFETIME.seconds // 60
            )
            async with self._unit_of_work() as uow:
                # Earlier links stay: whoever knows the address must not void the one just mailed.
                await uow.resets.issue(_digest(token), user.id, None, now, expires_at, retire=False)
                await uow.outbox.add(mail, now, expires_at)
                await uow.commit()
            self._audit.record(
                AuditEvent(
                    AuditKind.PASSWORD_RESET_ISSUED, now, user.id, user.workspace_id, user.id, client_ip,
                    detail="mailed on request",
                )
            )  # fmt: skip
        except AuthError as error:  # the database is away: the asker may ask again
            log.warning("password reset link not queued: %s", error.code.value)

    async def confirm(self, token: str, new_password: str, client_ip: str) -> int:
        """Sets the token's user's new password and ends every session of the user on every
        replica; how many ended. INVALID_ARGUMENT "Invalid or expired token" for any token that
        cannot be used, whatever the reason (an admin's token too, once its user is a member of
        another workspace than the admin's); the policy's reason for a refused password."""
        network = self._login_limits.network(client_ip)
        limit = self._policy.password_reset_limit
        await self._limits.take("reset-ip", network, limit, client_ip)  # before any other work
        if not (token.startswith(TOKEN_PREFIX) and len(token) == _TOKEN_LENGTH):
            raise invalid_argument(INVALID_TOKEN)
        digest, now = _digest(token), self._clock.now()
        found = await self._resets.find(digest)
        if found is None or found.used or found.expires_at <= now or found.user_disabled:
            raise invalid_argument(INVALID_TOKEN)
        await self._limits.take("reset-account", found.user_id, limit, client_ip)
        self._passwords.check(new_password, found.email)
        new_hash = await self._hasher.hash(new_password)  # before the transaction, not inside it
        now = self._clock.now()
        async with self._unit_of_work() as uow:
            user_id = await uow.resets.claim(digest, now)  # of two confirmations, one wins
            if user_id is None or not await uow.users.set_password_hash(user_id, new_hash):
                raise invalid_argument(INVALID_TOKEN)  # nothing is committed
            if found.by_admin and not _one_workspace(await uow.members.hold_all(user_id), found.issued_in):
                raise invalid_argument(INVALID_TOKEN)  # joined another workspace since: nothing committed
            await uow.resets.retire_all(user_id, now)  # any other link of the user, too
            ended = await uow.sessions.revoke_all_of_user(user_id, now, "password reset", None)
            await uow.commit()
        self._audit.record(
            AuditEvent(
                AuditKind.PASSWORD_RESET, now, found.user_id, found.workspace_id, client_ip=client_ip,
                detail=f"{ended} session(s) ended",
            )
        )  # fmt: skip
        return ended
