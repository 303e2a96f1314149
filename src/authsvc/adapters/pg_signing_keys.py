"""Signing keys in PostgreSQL, encrypted at rest, rotated by `authsvc keys rotate`.

Key material is sealed with AES-GCM under a key derived (HKDF-SHA256) from the configured root
secret (AUTHSVC_JWT_SECRET, or the embedded data dir's secret), which every replica already has:
a copy of the database alone signs nothing. The root secret itself is never stored; its row
holds no material.
"""

from __future__ import annotations

import json
import logging
import secrets
from datetime import datetime, timedelta

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from authsvc.adapters import invalidation_messages as messages
from authsvc.adapters.database import Database
from authsvc.adapters.invalidation import notify
from authsvc.adapters.keyring import KeyRing, SigningKey, root_kid
from authsvc.adapters.reloading import Reloader
from authsvc.adapters.signing_algorithms import (
    ASYMMETRIC,
    HS256,
    KID_PREFIXES,
    new_private_key,
    private_key,
    public_jwk,
)

log = logging.getLogger(__name__)

SIGNING_KEYS_MESSAGE = messages.SIGNING_KEYS_CHANGED
_SELECT = "SELECT kid, algorithm, material, public_jwk, active_from, retire_after FROM signing_keys"
_LOCK_ID = 0x6B65_7973  # serialises first-start key creation across replicas


class PgSigningKeyStore:
    def __init__(self, db: Database, root_secret: bytes) -> None:
        self._db = db
        self._root = root_secret
        self._root_kid = root_kid(root_secret)
        kek = HKDF(hashes.SHA256(), 32, salt=None, info=b"authsvc signing-key encryption").derive(root_secret)
        self._aead = AESGCM(kek)

    async def ensure_initial(self, algorithm: str, now: datetime) -> list[SigningKey]:
        """The usable keys; on a database without any, creates the first one (the root secret for
        HS256) and returns it."""
        async with self._db.transaction() as conn:
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_ID)
            keys = self._keys(await conn.fetch(_SELECT))
            if keys:
                return keys
            if algorithm == HS256:
                await conn.execute(
                    "INSERT INTO signing_keys (kid, algorithm, active_from) VALUES ($1, 'HS256', $2)",
                    self._root_kid,
                    now,
                )
            else:
                await self._insert_new(conn, algorithm, now)
            return self._keys(await conn.fetch(_SELECT))

    async def load(self) -> list[SigningKey]:
        return self._keys(await self._db.fetch(_SELECT))

    def _keys(self, rows: list[asyncpg.Record]) -> list[SigningKey]:
        """The keys this replica can use: the current root secret's, and those it can decrypt
        (rows sealed under another root secret are skipped, never guessed at, as are keys of an
        algorithm this release does not know, written by a newer one during an upgrade)."""
        keys = []
        for row in rows:
            try:
                keys.append(self._key(row))
            except (InvalidTag, LookupError):
                log.warning("signing key %s is sealed under another root secret; skipped", row["kid"])
            except ValueError:
                log.warning("signing key %s is of an algorithm this release cannot use; skipped", row["kid"])
        return keys

    async def rotate(
        self, algorithm: str, now: datetime, activation_delay: float, retire_delay: float
    ) -> str:
        """Adds a key that signs from `now + activation_delay` (replicas and JWKS readers learn of it
        first); every current key verifies for `retire_delay` more, then retires."""
        async with self._db.transaction() as conn:
            active_from = now + timedelta(seconds=activation_delay)
            await conn.execute(
                "UPDATE signing_keys SET retire_after = $1 WHERE retire_after IS NULL",
                active_from + timedelta(seconds=retire_delay),
            )
            kid = await self._insert_new(conn, algorithm, active_from)
            await notify(conn, SIGNING_KEYS_MESSAGE)
        return kid

    async def _insert_new(self, conn: asyncpg.Connection, algorithm: str, active_from: datetime) -> str:
        if algorithm not in KID_PREFIXES:
            raise ValueError(f"unsupported algorithm {algorithm}")
        kid = KID_PREFIXES[algorithm] + secrets.token_hex(8)
        public = None
        if algorithm == HS256:
            raw = secrets.token_bytes(32)
        else:
            private, raw = new_private_key(algorithm)
            public = public_jwk(kid, algorithm, private.public_key())
        nonce = secrets.token_bytes(12)
        sealed = nonce + self._aead.encrypt(nonce, raw, kid.encode())
        await conn.execute(
            "INSERT INTO signing_keys (kid, algorithm, material, public_jwk, active_from) "
            "VALUES ($1, $2, $3, $4::jsonb, $5)",
            kid,
            algorithm,
            sealed,
            json.dumps(public) if public else None,
            active_from,
        )
        return kid

    def _key(self, row: asyncpg.Record) -> SigningKey:
        kid, algorithm = row["kid"], row["algorithm"]
        active_from = int(row["active_from"].timestamp())
        retire_after = int(row["retire_after"].timestamp()) if row["retire_after"] else None
        if row["material"] is None:  # a row without material stands for a root secret
            if kid != self._root_kid:
                raise LookupError(kid)
            return SigningKey(kid, HS256, self._root, self._root, None, active_from, retire_after)
        material = bytes(row["material"])
        raw = self._aead.decrypt(material[:12], material[12:], kid.encode())
        if algorithm == HS256:
            return SigningKey(kid, HS256, raw, raw, None, active_from, retire_after)
        if algorithm not in ASYMMETRIC:
            raise ValueError(algorithm)
        private = private_key(algorithm, raw)
        # Published as derived from the sealed private key: the plain public_jwk column (kept for
        # operators reading the table) is never trusted.
        published = public_jwk(kid, algorithm, private.public_key())
        return SigningKey(kid, algorithm, private, private.public_key(), published, active_from, retire_after)


def ring_reloader(store: PgSigningKeyStore, ring: KeyRing, interval: float = 60.0) -> Reloader:
    """Reloads the key ring when a rotation is announced, on reconnect, and every minute."""

    async def reload() -> None:
        keys = await store.load()
        if keys:
            ring.replace(keys)

    return Reloader("signing keys", reload, interval)
