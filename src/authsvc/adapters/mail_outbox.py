"""The mail outbox in PostgreSQL, and the sender that empties it over SMTP (aiosmtplib).

A use case adds a message inside its unit of work (`PgOutboxStore`), so it is queued exactly when
what it announces commits, and the call returns without waiting on any mail server. Every replica
runs a `MailSender` when SMTP is configured; each claims due messages for a while (`locked_until`,
with SKIP LOCKED), so replicas never send one message twice at once, and one that died mid-send
leaves it to another after the claim runs out. A failure is retried with a doubling delay (1 s to
5 min) until the message's `not_after` (a link's end), then given up; both are counted in
`authsvc_mail_total{outcome}`. Messages are sealed at rest and dropped once sent or given up.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import os
from datetime import datetime, timedelta
from email.message import EmailMessage

import aiosmtplib
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from authsvc import metrics
from authsvc.adapters.database import Database, Executor
from authsvc.domain.errors import AuthError
from authsvc.domain.mail import Mail, SmtpTarget
from authsvc.service.ports import Clock

log = logging.getLogger(__name__)
CLAIM_SECONDS = 300  # a claimed message is another replica's to send after this (well past any send)
FIRST_RETRY_SECONDS = 1.0
LAST_RETRY_SECONDS = 300.0
SMTP_TIMEOUT_SECONDS = 20.0

_CLAIM = """
UPDATE mail_outbox SET locked_until = $1 + make_interval(secs => $2), attempts = attempts + 1
WHERE id = (
    SELECT id FROM mail_outbox
    WHERE sent_at IS NULL AND given_up_at IS NULL AND next_attempt_at <= $1
      AND (locked_until IS NULL OR locked_until <= $1)
    ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED
)
RETURNING id, payload, attempts, not_after, locked_until
"""
# Settling a message takes its claim: one that ran out (another replica has it now) is left alone.
_SENT = (
    "UPDATE mail_outbox SET sent_at = $3, payload = NULL, locked_until = NULL "
    "WHERE id = $1 AND locked_until = $2"
)
_RETRY = (
    "UPDATE mail_outbox SET next_attempt_at = $3, locked_until = NULL, last_error = $4 "
    "WHERE id = $1 AND locked_until = $2"
)
_GIVE_UP = (
    "UPDATE mail_outbox SET given_up_at = $3, payload = NULL, locked_until = NULL, last_error = $4 "
    "WHERE id = $1 AND locked_until = $2"
)


class MailSeal:
    """AES-GCM under a key derived from the root secret: what the outbox holds is unreadable
    without it (a reset link is a credential for half an hour)."""

    def __init__(self, root_secret: bytes) -> None:
        key = HKDF(hashes.SHA256(), 32, salt=None, info=b"authsvc mail outbox").derive(root_secret)
        self._aead = AESGCM(key)

    def seal(self, mail: Mail) -> bytes:
        nonce = os.urandom(12)
        document = json.dumps({"to": mail.to, "subject": mail.subject, "text": mail.text}).encode()
        return nonce + self._aead.encrypt(nonce, document, b"mail")

    def open(self, sealed: bytes) -> Mail:
        """InvalidTag for a message sealed under another root secret."""
        document = json.loads(self._aead.decrypt(sealed[:12], sealed[12:], b"mail"))
        return Mail(document["to"], document["subject"], document["text"])


class PgOutboxStore:
    """The outbox statements of a unit of work."""

    def __init__(self, conn: Executor, seal: MailSeal | None) -> None:
        self._conn = conn
        self._seal = seal

    async def add(self, mail: Mail, now: datetime, not_after: datetime) -> None:
        if self._seal is None:
            raise RuntimeError("no mail is sent here: AUTHSVC_SMTP_URL is not set")
        await self._conn.execute(
            "INSERT INTO mail_outbox (payload, created_at, not_after, next_attempt_at) "
            "VALUES ($1, $2, $3, $2)",
            self._seal.seal(mail),
            now,
            not_after,
        )


class MailSender:
    def __init__(
        self,
        database: Database,
        target: SmtpTarget,
        sender: str,
        seal: MailSeal,
        clock: Clock,
        poll_seconds: float = 1.0,
    ) -> None:
        self._database = database
        self._target = target
        self._from = sender
        self._seal = seal
        self._clock = clock
        self._poll = poll_seconds

    async def run(self) -> None:
        """Sends due mail until cancelled; a database outage only delays it."""
        while True:
            try:
                while await self.send_due():
                    pass  # there may be more
            except AuthError:
                log.warning("mail outbox unreachable: database unavailable")
            except Exception as error:  # never the end of mail on this replica
                log.error("mail outbox round failed (%s)", type(error).__name__)
            await asyncio.sleep(self._poll)

    async def send_due(self) -> bool:
        """Claims and sends the most overdue message; whether there was one."""
        row = await self._database.fetchrow(_CLAIM, self._clock.now(), CLAIM_SECONDS)
        if row is None:
            return False
        await self._send_one(
            row["id"], row["payload"], row["attempts"], row["not_after"], row["locked_until"]
        )
        return True

    async def _send_one(
        self, mail_id: int, payload: bytes, attempts: int, not_after: datetime, claim: datetime
    ) -> None:
        if self._clock.now() >= not_after:  # its link has expired meanwhile (a long outage)
            await self._give_up(mail_id, claim, "expired before it could be sent")
            return
        try:
            mail = self._seal.open(payload)
        except (InvalidTag, ValueError, KeyError):
            await self._give_up(mail_id, claim, "sealed under another root secret")
            return
        try:
            await self._deliver(mail)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            reason = type(error).__name__
            delay = min(LAST_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** (attempts - 1))
            retry_at = self._clock.now() + timedelta(seconds=delay)
            if retry_at >= not_after:
                await self._give_up(mail_id, claim, reason)
                return
            log.warning("mail %s not sent (%s): retrying in %.0f s", mail_id, reason, delay)
            metrics.MAIL.labels("retried").inc()
            await self._database.execute(_RETRY, mail_id, claim, retry_at, reason)
            return
        except Exception as error:  # a message that cannot be built or sent at all: this one only
            await self._give_up(mail_id, claim, type(error).__name__)
            return
        await self._database.execute(_SENT, mail_id, claim, self._clock.now())
        metrics.MAIL.labels("sent").inc()
        log.info("mail %s sent", mail_id)

    async def _give_up(self, mail_id: int, claim: datetime, reason: str) -> None:
        log.warning("mail %s given up (%s)", mail_id, reason)
        metrics.MAIL.labels("given_up").inc()
        await self._database.execute(_GIVE_UP, mail_id, claim, self._clock.now(), reason)

    async def _deliver(self, mail: Mail) -> None:
        message = EmailMessage()
        message["From"] = self._from
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = email.utils.formatdate(usegmt=True)
        message["Message-ID"] = email.utils.make_msgid(domain=self._from.rpartition("@")[2] or None)
        message.set_content(mail.text)
        target = self._target
        await aiosmtplib.send(
            message,
            hostname=target.host,
            port=target.port,
            username=target.username,
            password=target.password,
            use_tls=target.tls,
            start_tls=target.starttls,
            timeout=SMTP_TIMEOUT_SECONDS,
        )
