"""Everything a scenario needs: the options, the running servers, the seeded data, a scratch folder."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.options import Options
from bench.seed import Seeded
from bench.servers import Server


@dataclass
class Rig:
    options: Options
    scratch: Path  # pools and tool output, deleted after the run
    dsn: str
    bcrypt_cost: int
    authsvc: Server
    grpc_floor: Server
    grpc_generic_floor: Server  # the same empty server with generic handlers only (figure 0)
    http_floor: Server
    facade: Server | None
    facade_missing: str  # why there is no facade, when there is none
    seeded: Seeded
    local_facade: Server | None = None  # a facade answering /me from the revocation stream (6c, 6d)
    authsvc_env: dict[str, str] = field(default_factory=dict)  # how `authsvc` was started (8a, 8b)

    @property
    def watched(self) -> dict[str, int]:
        """The server processes under test, by name."""
        pids = {"authsvc": self.authsvc.pid}
        if self.facade is not None:
            pids["facade"] = self.facade.pid
        if self.local_facade is not None:
            pids["facade-local"] = self.local_facade.pid
        return pids
