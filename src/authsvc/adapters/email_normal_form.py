"""Migration 0009's second half: existing emails to their normal form, collisions reported.

A row whose email normalises to a form no other row shares is rewritten in that form. Rows that
would share one (a fullwidth "a" in `a-admin@a.test`, beside the plain one) are all left as they are
and reported: merging accounts is an operator's decision, never a migration's. So are rows whose
email is no longer accepted (invisible characters, look-alike scripts mixed in a label). Logins
look up the normal form, so a reported row that is not in it cannot log in until resolved.
"""

from __future__ import annotations

import logging
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field

import asyncpg

from authsvc.domain.errors import AuthError
from authsvc.domain.validation import INVISIBLE_CATEGORIES, email_normal_form, normalise_email

log = logging.getLogger("authsvc.migrations")


@dataclass
class EmailReport:
    rewritten: int = 0
    collisions: list[list[str]] = field(default_factory=list)  # user ids sharing one normal form
    refused: list[str] = field(default_factory=list)  # user ids whose email is no longer accepted


def _look_alike_key(email: str) -> str:
    """What two look-alike emails share: the normal form without invisible characters."""
    visible = "".join(c for c in email if unicodedata.category(c) not in INVISIBLE_CATEGORIES)
    return email_normal_form(visible)


async def normalise_stored_emails(conn: asyncpg.Connection) -> EmailReport:
    report = EmailReport()
    rows = await conn.fetch("SELECT id, email FROM users ORDER BY created_at, id")
    groups: dict[str, list[asyncpg.Record]] = defaultdict(list)
    for row in rows:
        groups[_look_alike_key(row["email"])].append(row)
    for group in groups.values():
        if len(group) > 1:
            ids = [str(row["id"]) for row in group]
            report.collisions.append(ids)
            log.warning(
                "email collision: users %s have emails that differ only in case, width or invisible "
                "characters; none was changed, and only one already in normal form can log in, though "
                "the others' sessions and keys still work: resolve by hand (`authsvc user disable --id`)",
                ", ".join(ids),
            )
            continue
        row = group[0]
        try:
            normal = normalise_email(row["email"])
        except AuthError:
            report.refused.append(str(row["id"]))
            log.warning(
                "user %s: its email holds invisible characters or mixes look-alike scripts; it cannot "
                "log in, though its sessions and keys still work: `authsvc user disable --id` it, or "
                "change its email by hand",
                row["id"],
            )
            continue
        if normal != row["email"]:
            await conn.execute("UPDATE users SET email = $2 WHERE id = $1", row["id"], normal)
            report.rewritten += 1
    if report.rewritten:
        log.info("emails rewritten in their normal form: %d", report.rewritten)
    return report
