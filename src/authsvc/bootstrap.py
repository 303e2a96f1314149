"""Wires settings, the database, adapters and use cases together, in one place, and closes them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from authsvc.adapters import revocation_log
from authsvc.adapters.cached_repositories import (
    CachedApiKeyRepository,
    CachedSessionRepository,
)
from authsvc.adapters.clock import SystemClock
from authsvc.adapters.common_passwords import common_passwords
from authsvc.adapters.database import Database
from authsvc.adapters.jwt_codec import JwtCodec
from authsvc.adapters.keyring import KeyRing
from authsvc.adapters.mail_outbox import MailSeal, MailSender
from authsvc.adapters.passwords import BcryptHasher
from authsvc.adapters.pg_api_keys import BatchedUsageRecorder, PgApiKeyRepository, forget_old_usage
from authsvc.adapters.pg_audit import BufferedAuditLog
from authsvc.adapters.pg_audit_trail import PgAuditTrail
from authsvc.adapters.pg_invitations import PgInvitationRepository
from authsvc.adapters.pg_login_networks import PgLoginNetworks
from authsvc.adapters.pg_members import PgMemberRepository
from authsvc.adapters.pg_password_resets import PgPasswordResetRepository
from authsvc.adapters.pg_rate_limiter import PgRateLimiter
from authsvc.adapters.pg_sessions import PgSessionRepository
from authsvc.adapters.pg_signing_keys import PgSigningKeyStore, ring_reloader
from authsvc.adapters.pg_unit_of_work import PgUnitOfWork
from authsvc.adapters.pg_users import PgUserRepository, PgWorkspaceRepository
from authsvc.adapters.pg_workspace_plans import PgWorkspacePlans
from authsvc.adapters.provision import database_for
from authsvc.adapters.reloading import Reloader
from authsvc.adapters.replica_sync import ReplicaSync
from authsvc.adapters.retention import forget_spent
from authsvc.adapters.usage_leases import LeasedMeter, forget_old_windows
from authsvc.adapters.validation_cache import ValidationCache
from authsvc.config import Settings, read_plans
from authsvc.domain.errors import AuthError
from authsvc.domain.password_policy import PasswordPolicy
from authsvc.domain.principal import Principal
from authsvc.domain.revocations import TokenRules
from authsvc.service.account import AccountService
from authsvc.service.api_keys import ApiKeyService
from authsvc.service.audit_trail import AuditTrailService
from authsvc.service.authenticate import Authenticator
from authsvc.service.container import Services
from authsvc.service.invitations import Invitations
from authsvc.service.limits import Limits
from authsvc.service.login_limits import LoginLimits
from authsvc.service.members import MembersService
from authsvc.service.metering import Metering
from authsvc.service.oauth_tokens import OAuthTokens
from authsvc.service.password_resets import PasswordResets
from authsvc.service.policy import Policy
from authsvc.service.ports import ApiKeyRepository, AuditLog, Clock, SessionRepository, UserRepository
from authsvc.service.public_keys import PublicKeys
from authsvc.service.revocation_watch import RevocationWatch
from authsvc.service.sessions import SessionService
from authsvc.service.tokens import TokenIssuer
from authsvc.service.users import UserService
from authsvc.service.verified_tokens import VerifiedTokens
from authsvc.service.workspace_settings import WorkspaceSettingsService

log = logging.getLogger(__name__)
EMBEDDED_ADMIN_EMAIL = "admin@example.com"


@dataclass
class Runtime:
    settings: Settings
    database: Database
    services: Services
    signing_keys: PgSigningKeyStore


def policy_from(settings: Settings) -> Policy:
    return Policy(
        access_token_ttl=settings.access_token_ttl_seconds,
        refresh_token_ttl=settings.refresh_token_ttl_seconds,
        session_max_age=settings.session_max_age_seconds,
        refresh_grace=timedelta(seconds=settings.refresh_grace_seconds),
        leeway=settings.jwt_leeway_seconds,
        known_permissions=settings.permissions,
        key_environments=settings.api_key_environments,
        login_per_ip=settings.login_rate_limit,
        refresh_per_user=settings.refresh_rate_limit,
        login_failures_per_account=settings.login_account_failure_limit,
        login_known_network_seconds=settings.login_known_network_seconds,
        ipv6_limit_prefix=settings.ipv6_limit_prefix,
        api_key_max_lifetime=settings.api_key_max_lifetime_seconds,
        password_min_length=settings.password_min_length,
        password_reset_limit=settings.password_reset_rate_limit,
        invitation_limit=settings.invitation_rate_limit,
        invitation_lifetime=settings.invitation_ttl_seconds,
    )


def build_services(
    settings: Settings,
    database: Database,
    keys: KeyRing | bytes,
    clock: Clock,
    usage: BatchedUsageRecorder,
    cache: ValidationCache | None = None,
    audit: AuditLog | None = None,
    sync: ReplicaSync | None = None,
    seal: MailSeal | None = None,
) -> Services:
    """The use cases over PostgreSQL; with a cache, ValidateToken's lookups are answered from it.

    `keys` may be just the root secret (tests, tools): then it is the only signing key, and the
    mail seal's key comes from it too when `seal` is not given.
    """
    if seal is None and isinstance(keys, bytes):
        seal = MailSeal(keys)
    if isinstance(keys, bytes):
        keys = KeyRing.root_only(keys)
    audit = audit or BufferedAuditLog(database)
    policy = policy_from(settings)
    verified: VerifiedTokens[Principal] = VerifiedTokens(
        settings.verified_token_cache_entries, settings.jwt_leeway_seconds
    )
    keys.on_change(verified.clear)
    codec = JwtCodec(keys, settings.jwt_issuer, settings.jwt_audience, settings.jwt_leeway_seconds)
    issuer = TokenIssuer(codec, clock, policy)
    hasher = BcryptHasher(settings.bcrypt_cost)
    users: UserRepository = PgUserRepository(database)
    workspaces = PgWorkspaceRepository(database)
    sessions: SessionRepository = PgSessionRepository(database)
    api_keys: ApiKeyRepository = PgApiKeyRepository(database)
    limits = Limits(PgRateLimiter(database), audit, clock)
    workspace_plans = PgWorkspacePlans(database)
    metering = Metering(LeasedMeter(database), read_plans(settings.plans_file), workspace_plans, clock, usage)
    if sync is not None:

        def plan_changed(workspace_id: str) -> None:
            workspace_plans.forget(workspace_id)
            metering.forget(workspace_id)

        sync.on_workspace_plan = plan_changed
    # Committed changes reach this replica's cache at once (the others' by NOTIFY).
    on_commit = cache.invalidate if cache is not None else None

    expect = sync.expect if sync is not None else None

    def unit_of_work() -> PgUnitOfWork:
        return PgUnitOfWork(database, on_commit, expect, seal)

    if cache is not None:
        sessions = CachedSessionRepository(PgSessionRepository(database), cache)
        catch_up = sync.caught_up if sync is not None else None
        api_keys = CachedApiKeyRepository(PgApiKeyRepository(database), cache, catch_up)
    authenticator = Authenticator(
        issuer, sessions, api_keys, usage, clock, verified, policy.key_environments, metering
    )
    if sync is not None:
        keys.on_change(sync.feed.keys_changed)  # watchers get the new keys at once
    common_passwords()  # read once, now: a missing list stops the start, never empties the check
    passwords = PasswordPolicy(policy.password_min_length, common_passwords)
    login_limits = LoginLimits(limits, PgLoginNetworks(database), clock, policy)
    session_service = SessionService(
        users,
        sessions,
        hasher,
        issuer,
        clock,
        policy,
        limits,
        audit,
        unit_of_work,
        login_limits,
    )
    rules = TokenRules(settings.jwt_issuer, settings.jwt_audience, settings.jwt_leeway_seconds)
    return Services(
        sessions=session_service,
        authenticator=authenticator,
        api_keys=ApiKeyService(api_keys, usage, clock, policy, audit, unit_of_work, metering),
        workspace_settings=WorkspaceSettingsService(workspaces, policy),
        users=UserService(users, hasher, audit, clock, unit_of_work, passwords),
        public_keys=PublicKeys(keys, clock),
        revocations=RevocationWatch(
            authenticator,
            sync.feed if sync is not None else None,
            cache,
            keys,
            clock,
            rules,
        ),
        oauth_tokens=OAuthTokens(authenticator, issuer, session_service, clock, rules),
        account=AccountService(users, sessions, hasher, passwords, clock, audit, unit_of_work, login_limits),
        password_resets=PasswordResets(
            users,
            PgPasswordResetRepository(database),
            hasher,
            passwords,
            clock,
            audit,
            unit_of_work,
            limits,
            login_limits,
            policy,
            settings.password_reset_url if settings.smtp_url is not None else None,
        ),
        audit_trail=AuditTrailService(PgAuditTrail(database)),
        members=MembersService(PgMemberRepository(database), clock, audit, unit_of_work, policy),
        invitations=Invitations(
            users,
            PgInvitationRepository(database),
            session_service,
            hasher,
            passwords,
            clock,
            audit,
            unit_of_work,
            limits,
            login_limits,
            policy,
            settings.invitation_url if settings.smtp_url is not None else None,
        ),
    )


@contextlib.asynccontextmanager
async def open_runtime(settings: Settings, clock: Clock | None = None) -> AsyncIterator[Runtime]:
    clock = clock or SystemClock()
    async with database_for(settings) as (database, secret, dsn):
        store = PgSigningKeyStore(database, secret)
        ring = KeyRing(await store.ensure_initial(settings.signing_algorithm, clock.now()))
        usage = BatchedUsageRecorder(database)
        audit = BufferedAuditLog(database)
        cache = ValidationCache(
            settings.validation_cache_entries,
            settings.validation_cache_seconds,
            stale_seconds=settings.max_staleness_seconds,
        )
        sync = ReplicaSync(
            dsn, database, cache, keys=ring_reloader(store, ring), leeway_seconds=settings.jwt_leeway_seconds
        )
        seal = MailSeal(secret)
        services = build_services(settings, database, ring, clock, usage, cache, audit, sync, seal)
        sweeper = Reloader(
            "expired rate limits and login networks", _sweeper(database, settings, clock), 600.0
        )
        tasks = [
            asyncio.create_task(usage.run(settings.last_used_flush_seconds)),
            asyncio.create_task(sweeper.run()),
        ]
        tasks += [asyncio.create_task(run) for run in sync.tasks()]
        smtp = settings.smtp
        if smtp is not None:
            sender = MailSender(database, smtp, settings.mail_from, seal, clock)
            tasks.append(asyncio.create_task(sender.run()))
        try:
            yield Runtime(settings, database, services, store)
        finally:
            for task in tasks:
                task.cancel()
            # Bounded: a background loop that failed to stop must not hold the process forever.
            _, stuck = await asyncio.wait(tasks, timeout=5)
            for task in stuck:
                log.warning("background task %s did not stop in time", task.get_coro())
            with contextlib.suppress(AuthError):
                await usage.flush()
            await audit.close()


def _sweeper(database: Database, settings: Settings, clock: Clock) -> Callable[[], Awaitable[None]]:
    """Forgets rate-limit buckets past their time, login networks past the known window, and what
    `retention.forget_spent` says."""
    limiter, networks = PgRateLimiter(database), PgLoginNetworks(database)

    async def sweep() -> None:
        await limiter.forget_expired()
        await forget_old_windows(database, clock.now())
        await forget_old_usage(database, clock.now())
        await revocation_log.forget_old(database, clock.now())
        await networks.forget_before(clock.now() - timedelta(seconds=settings.login_known_network_seconds))
        await forget_spent(database, clock.now(), settings.audit_retention_days)

    return sweep


async def ensure_first_admin(runtime: Runtime, embedded: bool | None = None) -> tuple[str, str] | None:
    """On a database with no users, the bootstrap admin: AUTHSVC_BOOTSTRAP_ADMIN_EMAIL/PASSWORD
    when set; on the embedded default, otherwise, admin@example.com with a random password, which
    is returned for the caller to show once. None when nothing was created or the password was
    configured (it is never echoed). `embedded`: the runtime reaches the embedded database by URL
    (a supervisor of workers); default: whether its settings name no database."""
    settings = runtime.settings
    email, password = settings.bootstrap_admin_email, settings.bootstrap_admin_password
    if email is None or password is None:
        if not (settings.embedded if embedded is None else embedded):
            return None
        email, password = EMBEDDED_ADMIN_EMAIL, None
    made = await runtime.services.users.ensure_first_admin(
        email, password, settings.bootstrap_workspace, lambda: secrets.token_urlsafe(18)
    )
    return (email, made) if made is not None else None
