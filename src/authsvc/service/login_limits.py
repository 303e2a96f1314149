"""The limits a login passes before any password is checked, and what a success gives back.

- Every attempt counts against its client network (the public doc's 5 a minute per IP; an IPv6
  client by its /64), before any other work, so refused attempts cost no bcrypt.
- Failures count against the account, so password spraying and credential stuffing from many
  networks stay capped (OWASP ASVS 2.2.1). A cap that refuses the right password too is a
  lock-out that strangers can cause, though: one client at 5 a minute kept an account locked.
  So, after OWASP's "known device" idea, the account-wide cap applies only to networks from which
  the account has not logged in lately; a network it has is counted on its own (the same number
  of failures, for that account from that network), and a stranger elsewhere cannot use it up.
- A success is given back (only failures accumulate) and marks its network as known.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from authsvc.domain.networks import client_network
from authsvc.service.limits import Limits
from authsvc.service.policy import Policy
from authsvc.service.ports import Clock, LoginNetworks

# A network's last success is written again at most this often: the window is days long, and
# most logins come from networks that logged in lately (one write fewer on the login path).
REMEMBER_EVERY = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Admission:
    """An attempt the limits let through, and the failure bucket it was counted in."""

    account: str
    network: str
    bucket: str
    subject: str
    last_success: datetime | None  # of the account from the network, within the known window


class LoginLimits:
    def __init__(self, limits: Limits, networks: LoginNetworks, clock: Clock, policy: Policy) -> None:
        self._limits = limits
        self._networks = networks
        self._clock = clock
        self._policy = policy

    def network(self, client_ip: str) -> str:
        """What per-client limits count: the address, or an IPv6 client's whole network."""
        return client_network(client_ip, self._policy.ipv6_limit_prefix)

    async def admit_client(self, client_ip: str) -> str:
        """Counts the attempt against its client network, which it returns; RATE_LIMITED past the
        limit. First of all: malformed and refused attempts are counted too."""
        network = self.network(client_ip)
        await self._limits.take("login-ip", network, self._policy.login_per_ip, client_ip)
        return network

    async def admit_account(self, account: str, network: str, client_ip: str) -> Admission:
        """Counts the attempt as a failure of `account` until `succeeded` gives it back: in the
        account-wide bucket, or, from a network the account logged in from lately, in the bucket
        of that account and network; RATE_LIMITED, before any password work, past the limit.

        The known-network lookup runs for every attempt, existing account or not, so its timing
        tells nothing about which accounts exist.
        """
        policy = self._policy
        window = policy.login_known_network_seconds
        since = self._clock.now() - timedelta(seconds=window)
        last = await self._networks.last_success(account, network, since) if window > 0 else None
        if last is not None:
            admission = Admission(account, network, "login-account-network", f"{account} {network}", last)
        else:
            admission = Admission(account, network, "login-account", account, None)
        await self._limits.take(
            admission.bucket, admission.subject, policy.login_failures_per_account, client_ip
        )
        return admission

    async def succeeded(self, admission: Admission) -> None:
        """A success is no failure: given back; and its network is now known for the account."""
        await self._limits.give_back(
            admission.bucket, admission.subject, self._policy.login_failures_per_account
        )
        now = self._clock.now()
        fresh = admission.last_success is not None and now - admission.last_success < REMEMBER_EVERY
        if self._policy.login_known_network_seconds > 0 and not fresh:
            await self._networks.remember(admission.account, admission.network, now)
