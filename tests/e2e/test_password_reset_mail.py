"""Password reset links by mail (issue 16, items 7 and 9): `authsvc serve` with AUTHSVC_SMTP_URL
sends through a real SMTP server (aiosmtpd) what the outbox holds; asking answers the same for any
address; a server that is down delays the mail, never the call, and shows in the metrics."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import aiohttp
import grpc
import pytest
from aiosmtpd.controller import Controller

from authsvc.v1 import auth_pb2, auth_pb2_grpc
from tests.conftest import TEST_SECRET
from tests.support.addresses import TEST_PROXY_TOKEN, free_port
from tests.support.grpc_client import rpc_error
from tests.support.processes import ServeProcess, clean_env, start_serve

PASSWORD = "a long enough password"
NEW = "an orchard of brass windmills"
LINK = re.compile(r"https://app\.example\.com/reset#token=(pwr_[A-Za-z0-9_-]{43})\s")
INVITATION_LINK = re.compile(r"https://app\.example\.com/join#token=(inv_[A-Za-z0-9_-]{43})\s")


class Inbox:
    """What the SMTP server received (aiosmtpd calls handle_DATA on its own thread)."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(
        self, server: Any, session: Any, envelope: Any
    ) -> str:  # aiosmtpd calls it by this name
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    async def wait_for(self, count: int, seconds: float = 15) -> None:
        async with asyncio.timeout(seconds):
            while len(self.received) < count:
                await asyncio.sleep(0.05)


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


def _serving_smtp(inbox: Inbox, port: int) -> Controller:
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller


@pytest.fixture
def smtp_server(inbox: Inbox, smtp_port: int) -> Iterator[Inbox]:
    controller = _serving_smtp(inbox, smtp_port)
    yield inbox
    controller.stop()


async def _serve(database_url: str, smtp_port: int, email: str) -> ServeProcess:
    env = clean_env(
        AUTHSVC_DATABASE_URL=database_url,
        AUTHSVC_JWT_SECRET=TEST_SECRET.hex(),
        AUTHSVC_GRPC_ADDRESS="127.0.0.1:0",
        AUTHSVC_BCRYPT_COST="10",
        AUTHSVC_SHUTDOWN_GRACE_SECONDS="1",
        AUTHSVC_PROXY_TOKENS=TEST_PROXY_TOKEN,
        AUTHSVC_BOOTSTRAP_ADMIN_EMAIL=email,
        AUTHSVC_BOOTSTRAP_ADMIN_PASSWORD=PASSWORD,
        AUTHSVC_SMTP_URL=f"smtp://127.0.0.1:{smtp_port}",
        AUTHSVC_MAIL_FROM="no-reply@auth.example.com",
        AUTHSVC_PASSWORD_RESET_URL="https://app.example.com/reset#token={token}",
        AUTHSVC_INVITATION_URL="https://app.example.com/join#token={token}",
    )
    return await start_serve(env)


async def _mail_metric(serving: ServeProcess, outcome: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(serving.metrics_url) as reply:
        text = await reply.text()
    found = re.search(rf'^authsvc_mail_total{{outcome="{outcome}"}} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


async def test_a_mailed_link_resets_the_password_once_and_unknown_addresses_get_nothing(
    fresh_database_url: str, smtp_server: Inbox, smtp_port: int
) -> None:
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    serving = await _serve(fresh_database_url, smtp_port, email)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{serving.port}") as channel:
            stub = auth_pb2_grpc.AuthServiceStub(channel)
            await stub.RequestPasswordReset(auth_pb2.RequestPasswordResetRequest(email="nobody-" + email))
            await stub.RequestPasswordReset(auth_pb2.RequestPasswordResetRequest(email=email.upper()))
            await smtp_server.wait_for(1)
            await asyncio.sleep(1.5)  # the unknown address was asked first: nothing comes for it
            assert len(smtp_server.received) == 1
            recipients, message = smtp_server.received[0]
            assert recipients == [email] and message["To"] == email
            assert message["From"] == "no-reply@auth.example.com"
            assert message["Subject"] == "Reset your password"
            body = message.get_content()
            found = LINK.search(body)
            assert found is not None, body
            token = found.group(1)
            assert PASSWORD not in body and TEST_SECRET.hex() not in body
            assert len(re.findall(r"pwr_", body)) == 1  # the link, and no other secret

            confirm = auth_pb2.ConfirmPasswordResetRequest(token=token, new_password=NEW)
            assert (await stub.ConfirmPasswordReset(confirm)).sessions_revoked == 0
            refused = await rpc_error(stub.ConfirmPasswordReset(confirm))
            assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert refused.details() == "Invalid or expired token"
            assert (await stub.Login(auth_pb2.LoginRequest(email=email, password=NEW))).access_token
            assert await _mail_metric(serving, "sent") == 1
    finally:
        await serving.stop()


async def test_an_invitation_goes_by_mail_and_its_link_is_accepted_once(
    fresh_database_url: str, smtp_server: Inbox, smtp_port: int
) -> None:
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    invited = f"new-{uuid.uuid4().hex[:8]}@example.com"
    serving = await _serve(fresh_database_url, smtp_port, email)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{serving.port}") as channel:
            stub = auth_pb2_grpc.AuthServiceStub(channel)
            admin = await stub.Login(auth_pb2.LoginRequest(email=email, password=PASSWORD))
            bearer = (("authorization", f"Bearer {admin.access_token}"),)
            made = await stub.CreateInvitation(
                auth_pb2.CreateInvitationRequest(email=invited, role="member"), metadata=bearer
            )
            assert made.token == "" and made.invitation.email == invited  # the token went by mail only
            await smtp_server.wait_for(1)
            recipients, message = smtp_server.received[0]
            assert recipients == [invited] and message["Subject"].startswith("You are invited to ")
            body = message.get_content()
            found = INVITATION_LINK.search(body)
            assert found is not None, body
            assert len(re.findall(r"inv_", body)) == 1 and admin.access_token not in body

            accept = auth_pb2.AcceptInvitationRequest(token=found.group(1), password=NEW)
            pair = await stub.AcceptInvitation(accept)
            checked = await stub.ValidateToken(auth_pb2.ValidateTokenRequest(token=pair.access_token))
            assert checked.principal.workspace_id
            refused = await rpc_error(stub.AcceptInvitation(accept))
            assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert refused.details() == "Invalid or expired token"
            assert (await stub.Login(auth_pb2.LoginRequest(email=invited, password=NEW))).access_token
    finally:
        await serving.stop()


async def test_a_mail_server_that_is_down_delays_the_mail_not_the_call(
    fresh_database_url: str, inbox: Inbox, smtp_port: int
) -> None:
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    serving = await _serve(fresh_database_url, smtp_port, email)  # nothing listens on smtp_port yet
    controller = None
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{serving.port}") as channel:
            stub = auth_pb2_grpc.AuthServiceStub(channel)
            started = time.monotonic()
            await stub.RequestPasswordReset(auth_pb2.RequestPasswordResetRequest(email=email))
            assert time.monotonic() - started < 1.0
            async with asyncio.timeout(10):
                while await _mail_metric(serving, "retried") < 2:  # tried at once, then after 1 s
                    await asyncio.sleep(0.1)
            controller = _serving_smtp(inbox, smtp_port)
            await inbox.wait_for(1, seconds=20)  # the next try (after 2 s, then 4 s) gets through
            assert inbox.received[0][0] == [email] and LINK.search(inbox.received[0][1].get_content())
            assert await _mail_metric(serving, "sent") == 1
    finally:
        await serving.stop()
        if controller is not None:
            controller.stop()
