"""The typed keys under which the app keeps its settings, its AuthService connection and request ids."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc
from aiohttp import web

from authsvc.client.batching import TokenChecks
from authsvc.client.local_verification import LocalVerifier
from http_facade.config import Settings
from http_facade.local_replies import LocalReplies


@dataclass(frozen=True)
class Upstream:
    """The one long-lived channel to AuthService and the stubs that use it."""

    channel: grpc.aio.Channel
    auth: Any  # authsvc.v1.AuthServiceStub: grpcio ships no type information
    health: Any  # grpc.health.v1.HealthStub
    token_checks: TokenChecks  # /me and /verify, batched onto ValidateTokens
    local: LocalVerifier | None = None  # /me and /verify answered locally, when configured
    local_replies: LocalReplies = field(default_factory=LocalReplies)  # and their replies, kept


SETTINGS = web.AppKey("settings", Settings)
UPSTREAM = web.AppKey("upstream", Upstream)
REQUEST_ID = web.RequestKey("request_id", str)
