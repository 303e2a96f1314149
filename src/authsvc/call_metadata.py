"""The gRPC metadata keys AuthService reads beside `authorization`: named once for the server and
for the callers that send them (the REST facade, other proxies)."""

from __future__ import annotations

FORWARDED_FOR = "x-forwarded-for"  # the client IP, as the proxy saw it
PROXY_TOKEN = "x-authsvc-proxy-token"  # proves the caller is a proxy whose say-so counts
