"""The gRPC metadata keys AuthService reads beside `authorization`: named once for the server and
for the callers that send them (the REST facade, other proxies)."""

from __future__ import annotations

FORWARDED_FOR = "x-forwarded-for"  # the client IP, as the proxy saw it
PROXY_TOKEN = "x-authsvc-proxy-token"  # proves the caller is a proxy whose say-so counts
FORWARDED_USER_AGENT = "x-forwarded-user-agent"  # the client's User-Agent, as the proxy got it
USER_AGENT = "user-agent"  # the caller's own (gRPC clients send theirs)
MAX_USER_AGENT = 256  # characters kept of a user agent
