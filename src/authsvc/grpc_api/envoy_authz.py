"""Envoy external authorization (`envoy.service.auth.v3.Authorization/Check`), on AuthService's
own port: Envoy, and Istio's CUSTOM AuthorizationPolicy, ask it about each request they proxy.

A thin translator, as the REST facade's forward auth is: the request's `Authorization: Bearer`
credential and the route's requirements go to the same check as ValidateToken, and the answer
comes back as Envoy applies it.

- Allowed: the identity headers of forward auth (`x-auth-subject`, `x-auth-kind`, `x-auth-user`,
  `x-auth-workspace`, `x-auth-permissions`, and for API keys `x-auth-environment` and
  `x-auth-key-name`) replace what the client sent under those names, and the ones a check does
  not set are removed, so none can be forged; a charged check adds `RateLimit` and
  `RateLimit-Policy` to the client's response.
- Denied: the status, JSON `{"detail"}` body, `WWW-Authenticate` and `Retry-After` the facade
  answers with, from the one gRPC → HTTP table (authsvc.client.http_errors). An outage is a 503,
  never a 401 or a pass.
- The route names what it needs in its per-route `context_extensions` (`permissions`:
  comma-separated; `cost`: requests charged, 0 to only check), never the client: a client cannot
  set those. A check charges `AUTHSVC_ENVOY_CHECK_COST` (1 by default) when the route says nothing.
- No Authorization header, two of them, one over 8 KiB, or one that is not UTF-8: denied 401,
  never a gRPC error (which Envoy would turn into its own 403 or, failing open, a pass).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.service.auth.v3 import attribute_context_pb2, external_auth_pb2
from envoy.type.v3 import http_status_pb2
from google.rpc import status_pb2

from authsvc.client.forward_auth_headers import IDENTITY_HEADERS, identity_headers, rate_limit_headers
from authsvc.client.http_errors import INTERNAL, refusal
from authsvc.domain.bearer import bearer_credentials
from authsvc.domain.errors import AuthError, ErrorCode, invalid_argument
from authsvc.domain.plans import BudgetState
from authsvc.domain.principal import Principal
from authsvc.grpc_api import convert
from authsvc.grpc_api.errors import STATUS_FOR
from authsvc.metrics import ENVOY_CHECKS, RPC_STATS
from authsvc.service.container import Services
from authsvc.service.metering import MAX_COST

log = logging.getLogger(__name__)

SERVICE = "envoy.service.auth.v3.Authorization"
MAX_AUTHORIZATION_BYTES = 8192
_OVERWRITE = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
_JSON = base_pb2.HeaderValue(key="content-type", value="application/json")
_NO_STORE = base_pb2.HeaderValue(key="cache-control", value="no-store")
_STATS = RPC_STATS.method("unary", SERVICE, "Check")


class _Refused(Exception):
    """A request refused before any credential check, with whether one was presented."""

    def __init__(self, error: AuthError, presented: bool) -> None:
        self.error, self.presented = error, presented


class EnvoyAuthorization:
    """The Authorization service (what `add_AuthorizationServicer_to_server` registers)."""

    def __init__(self, services: Services, default_cost: int = 1) -> None:
        self._services = services
        self._default_cost = default_cost

    async def Check(
        self, request: external_auth_pb2.CheckRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> external_auth_pb2.CheckResponse:
        started = time.perf_counter()
        presented = False
        try:
            attributes = request.attributes
            token, presented = _bearer(attributes.request.http)
            required, cost = _route_needs(attributes.context_extensions, self._default_cost)
            authenticator = self._services.authenticator
            if cost:
                principal, states = await authenticator.charged(token, required, cost)
            else:
                principal, states = await authenticator.validate(token, required), ()
            reply = _allowed(principal, states)
            status = 200
        except _Refused as refused:
            reply, status = _denied(refused.error, refused.presented)
        except AuthError as error:
            reply, status = _denied(error, presented)
        except Exception:  # fail closed, with the facade's body for it; never a stack trace
            log.exception("unexpected error in Envoy Check")
            reply, status = _denied_with(500, grpc.StatusCode.INTERNAL, INTERNAL, None, ()), 500
        ENVOY_CHECKS.labels(str(status)).inc()
        _STATS.observe("OK", time.perf_counter() - started)  # the call itself always succeeds
        return reply


def _bearer(http: attribute_context_pb2.AttributeContext.HttpRequest) -> tuple[str, bool]:
    """The Bearer credential of the request Envoy asks about, and whether one was presented.

    Envoy sends headers in `header_map` (each one, repeats included) when configured to, else in
    the `headers` map (repeats joined by commas, which then fail as a token)."""
    if http.header_map.headers:
        sent = http.header_map.headers
        values = [h.raw_value or h.value.encode() for h in sent if h.key.lower() == "authorization"]
    else:
        values = [value.encode() for key, value in http.headers.items() if key.lower() == "authorization"]
    if not values:
        raise _Refused(AuthError(ErrorCode.UNAUTHENTICATED), False)
    if len(values) > 1 or len(values[0]) > MAX_AUTHORIZATION_BYTES:
        raise _Refused(AuthError(ErrorCode.TOKEN_INVALID), True)
    try:
        token = bearer_credentials(values[0].decode("utf-8"))
    except UnicodeDecodeError:
        raise _Refused(AuthError(ErrorCode.TOKEN_INVALID), True) from None
    if token is None:  # another scheme, or an empty one: no Bearer credentials
        raise _Refused(AuthError(ErrorCode.UNAUTHENTICATED), False)
    return token, True


def _route_needs(extensions: Mapping[str, str], default_cost: int) -> tuple[list[str], int]:
    """The permissions and cost the route's `context_extensions` ask for."""
    permissions = [name.strip() for name in extensions.get("permissions", "").split(",") if name.strip()]
    text = extensions.get("cost")
    if text is None:
        return permissions, default_cost
    if not (text.isascii() and text.isdigit() and len(text) <= 4 and int(text) <= MAX_COST):
        raise invalid_argument(f"cost must be a whole number from 0 to {MAX_COST}")
    return permissions, int(text)


def _allowed(principal: Principal, states: Sequence[BudgetState]) -> external_auth_pb2.CheckResponse:
    identity = {name.lower(): value for name, value in identity_headers(convert.principal(principal)).items()}
    limits = rate_limit_headers([convert.rate_limit_state(state) for state in states])
    return external_auth_pb2.CheckResponse(
        status=status_pb2.Status(code=grpc.StatusCode.OK.value[0]),
        ok_response=external_auth_pb2.OkHttpResponse(
            headers=_options(identity.items()),
            headers_to_remove=[name.lower() for name in IDENTITY_HEADERS if name.lower() not in identity],
            response_headers_to_add=_options((name.lower(), value) for name, value in limits.items()),
        ),
    )


def _denied(error: AuthError, presented: bool) -> tuple[external_auth_pb2.CheckResponse, int]:
    code = STATUS_FOR[error.code]
    status, detail, challenge = refusal(code, error.detail, presented)
    limits = [convert.rate_limit_state(state) for state in error.limits if isinstance(state, BudgetState)]
    extra = list(rate_limit_headers(limits).items())
    if error.retry_after is not None:
        extra.append(("retry-after", str(error.retry_after)))
    return _denied_with(status, code, detail, challenge, extra), status


def _denied_with(
    status: int,
    code: grpc.StatusCode,
    detail: str,
    challenge: str | None,
    extra: Iterable[tuple[str, str]],
) -> external_auth_pb2.CheckResponse:
    headers = [_JSON, _NO_STORE]
    if challenge is not None:
        headers.append(base_pb2.HeaderValue(key="www-authenticate", value=challenge))
    headers.extend(base_pb2.HeaderValue(key=name.lower(), value=value) for name, value in extra)
    return external_auth_pb2.CheckResponse(
        status=status_pb2.Status(code=code.value[0], message=detail),
        denied_response=external_auth_pb2.DeniedHttpResponse(
            status=http_status_pb2.HttpStatus(code=status),
            headers=[base_pb2.HeaderValueOption(header=h, append_action=_OVERWRITE) for h in headers],
            body=json.dumps({"detail": detail}),
        ),
    )


def _options(pairs: Iterable[tuple[str, str]]) -> list[base_pb2.HeaderValueOption]:
    return [
        base_pb2.HeaderValueOption(header=base_pb2.HeaderValue(key=k, value=v), append_action=_OVERWRITE)
        for k, v in pairs
    ]
