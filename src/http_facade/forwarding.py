"""What the facade tells AuthService about a request: its credentials, its client and its id, as
the metadata of the one call it makes; and what a gateway asks of /verify."""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from aiohttp import web

from authsvc.call_metadata import FORWARDED_FOR, FORWARDED_USER_AGENT, MAX_USER_AGENT, PROXY_TOKEN
from authsvc.domain.bearer import bearer_credentials
from http_facade.client_address import client_address
from http_facade.errors import FacadeError
from http_facade.state import REQUEST_ID, SETTINGS

# gRPC metadata values may hold printable ASCII only; anything else would fail the call itself.
_GRPC_VALUE = re.compile(r"[\x20-\x7e]*")


def carriable(value: str) -> bool:
    """Whether gRPC metadata can carry `value` unchanged."""
    return _GRPC_VALUE.fullmatch(value) is not None


def call_options(request: web.Request) -> dict[str, Any]:
    """The deadline and metadata of the one AuthService call a request makes.

    The Authorization header is passed on untouched; AuthService alone decides what it is worth.
    The client IP counts for AuthService only with the facade's proxy token beside it.
    """
    settings = request.app[SETTINGS]
    metadata = [("x-request-id", request[REQUEST_ID])]
    ip = client_address(
        request.remote, request.headers.getall("X-Forwarded-For", ()), settings.trusted_proxies
    )
    if ip:
        metadata.append((FORWARDED_FOR, ip))
    if settings.proxy_token is not None:  # without it, AuthService takes the facade for the client
        metadata.append((PROXY_TOKEN, settings.proxy_token))
        agent = request.headers.get("User-Agent")
        if agent and carriable(agent[:MAX_USER_AGENT]):
            metadata.append((FORWARDED_USER_AGENT, agent[:MAX_USER_AGENT]))
    metadata.extend(("authorization", value) for value in authorization(request))
    return {"timeout": settings.call_timeout_seconds, "metadata": tuple(metadata)}


def authorization(request: web.Request) -> list[str]:
    """The Authorization header, refused when repeated or when gRPC metadata could not carry it."""
    values = request.headers.getall("Authorization", ())
    if len(values) > 1 or not all(carriable(value) for value in values):
        raise FacadeError(
            400, "Malformed Authorization header", {"WWW-Authenticate": 'Bearer error="invalid_request"'}
        )
    return list(values)


def bearer_token(request: web.Request) -> str:
    """The credentials of `Authorization: Bearer <token>` (RFC 6750), or "" for AuthService to refuse."""
    values = authorization(request)
    return (bearer_credentials(values[0]) if values else None) or ""


def required_permissions(request: web.Request) -> list[str]:
    """What a gateway requires for the request it asks about: `?permissions=a:read,b:write`
    (repeatable; empty entries ignored); 400 for a value that is not UTF-8 (`%ff`, or a raw byte
    that aiohttp's pure-Python parser lets through).

    Security: a query parameter, never a request header. The gateway's own configuration writes
    the URL it calls, while gateways copy the client's headers onto that call (Traefik forwards
    them all by default), so a header could be set, or emptied, by the client.
    """
    # Decoded here, not through request.query, which turns undecodable bytes into U+FFFD: a name
    # no token holds, so a malformed parameter would have looked like a missing permission (403).
    pairs = urllib.parse.parse_qsl(
        request.rel_url.raw_query_string, keep_blank_values=True, errors="surrogateescape"
    )
    names = [name.strip() for key, value in pairs if key == "permissions" for name in value.split(",")]
    try:
        for name in names:
            name.encode("utf-8")  # an undecodable byte is a lone surrogate by now
    except UnicodeEncodeError:
        raise FacadeError(400, "Malformed permissions parameter") from None
    return [name for name in names if name]


MAX_COST = 1000


def requested_cost(request: web.Request) -> int:
    """What a forward-auth check charges: `?cost=` (0 only checks), 1 when absent."""
    values = request.query.getall("cost", [])
    if not values:
        return 1
    text = values[0]
    if len(values) > 1 or len(text) > 4 or not (text.isascii() and text.isdigit()) or int(text) > MAX_COST:
        raise FacadeError(400, f"cost must be a whole number from 0 to {MAX_COST}")
    return int(text)
