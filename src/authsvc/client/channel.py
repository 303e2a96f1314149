"""How every client of ours reaches AuthService: the SDK's AuthClient and the REST facade open
their channel with these options.

- **Several replicas.** A target naming several (`ipv4:10.0.0.1:50051,10.0.0.2:50051`, or a DNS
  name with several addresses, `dns:///authsvc:50051`) is spread round-robin, so a crashed
  replica's share moves to the others as soon as its connection drops.
- **Retries** are gRPC's own (service config): they honour the call's deadline, only follow
  UNAVAILABLE (the call never reached a live server, or its server died under it) and go to
  another replica. They are few and short: they cover a replica restarting or crashing, not an
  outage, which callers should hear about at once (503 / UNAVAILABLE) rather than after a stall.
  A call is replayed only where a replay is harmless: every AuthService method but CreateApiKey,
  whose replay after a crash that came after its commit would leave a second key whose secret
  nobody saw (a refresh replayed so is answered from the refresh grace window; revocations and
  logouts are idempotent; a rotation replayed retires the unseen secret at once).
- **Reconnection** within a fraction of a second (gRPC's default first wait is a full second).
"""

from __future__ import annotations

import json

_SERVICE = "authsvc.v1.AuthService"
_RETRY = {
    "maxAttempts": 3,
    "initialBackoff": "0.05s",
    "maxBackoff": "0.2s",
    "backoffMultiplier": 2,
    "retryableStatusCodes": ["UNAVAILABLE"],
}
SERVICE_CONFIG = json.dumps(
    {
        "loadBalancingConfig": [{"round_robin": {}}],
        "methodConfig": [
            {"name": [{"service": _SERVICE}], "retryPolicy": _RETRY},
            {"name": [{"service": _SERVICE, "method": "CreateApiKey"}]},  # never replayed
        ],
    }
)


def channel_options(max_reconnect_ms: int = 2000) -> list[tuple[str, object]]:
    return [
        ("grpc.service_config", SERVICE_CONFIG),
        ("grpc.enable_retries", 1),
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", max_reconnect_ms),
    ]
