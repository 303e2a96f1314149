"""Mail the service sends, and where it goes: plain data, no transport."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import unquote, urlsplit

LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
SCHEMES = {"smtp": "opportunistic STARTTLS", "smtp+starttls": "STARTTLS required", "smtps": "TLS"}


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    text: str


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    """An SMTP server as AUTHSVC_SMTP_URL names it: `smtp://` (STARTTLS when the server offers
    it: a relay on localhost), `smtp+starttls://` (STARTTLS or nothing), `smtps://` (TLS from the
    first byte), with `user:password@` when the server wants a login."""

    host: str
    port: int
    tls: bool  # TLS from the start
    starttls: bool | None  # True: required; None: when offered
    username: str | None
    password: str | None = field(repr=False)

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        """ValueError, without the URL (it may hold a password), when it is not one."""
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES:
            raise ValueError(f"must start with one of {', '.join(s + '://' for s in SCHEMES)}")
        try:
            port = parts.port
        except ValueError:
            raise ValueError("has a port that is not a number from 1 to 65535") from None
        if not parts.hostname:
            raise ValueError("names no host")
        if parts.scheme == "smtp" and parts.username and parts.hostname not in LOOPBACK:
            # Opportunistic STARTTLS can be stripped on the way, and the login would go in clear.
            raise ValueError("sends a password: use smtp+starttls:// or smtps:// (smtp:// only to localhost)")
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=port or (465 if tls else 587 if parts.scheme == "smtp+starttls" else 25),
            tls=tls,
            starttls=True if parts.scheme == "smtp+starttls" else (False if tls else None),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def invitation_mail(email: str, workspace: str, role: str, link: str, expires_at: datetime) -> Mail:
    """The invitation mail: the link, and no other secret."""
    until = expires_at.strftime("%Y-%m-%d %H:%M UTC")
    return Mail(
        to=email,
        subject=f"You are invited to {workspace}",
        text=(
            f"You are invited to join the workspace {workspace} as {role}.\n\n"
            f"To accept, open this link before {until}:\n\n{link}\n\n"
            "If you did not expect this invitation, ignore this mail.\n"
        ),
    )


def reset_mail(email: str, link: str, minutes: int) -> Mail:
    """The password reset mail: the link, and no other secret."""
    return Mail(
        to=email,
        subject="Reset your password",
        text=(
            f"Someone asked to reset the password of the account {email}.\n\n"
            f"To choose a new password, open this link within {minutes} minutes:\n\n{link}\n\n"
            "If it was not you, ignore this mail: the password stays as it is.\n"
        ),
    )
