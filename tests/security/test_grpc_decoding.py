"""Requests whose bytes are not their message: INVALID_ARGUMENT with a fixed text, no traceback.

grpcio alone answers UNKNOWN "Unexpected <class 'google.protobuf.message.DecodeError'>: Error
parsing message with type ..." and logs a traceback (review finding 6).
"""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2

from authsvc.v1 import auth_pb2
from tests.security.conftest import Capture

# A varint whose continuation bit promises a byte that never comes: no message decodes it.
TRUNCATED = b"\x08\xff"
# Field 1 as a length-delimited string that is not UTF-8: what proto3 string fields refuse.
BAD_UTF8 = b"\x0a\x02\xff\xfe"
# The same inside field 1 of field 1: ValidateTokensRequest's checks[0].token.
NESTED_BAD_UTF8 = b"\x0a\x04" + BAD_UTF8
AUTH_METHODS = [m.name for m in auth_pb2.DESCRIPTOR.services_by_name["AuthService"].methods]
STRING_FIRST = ["Login", "Refresh", "ValidateToken", "CreateApiKey", "RevokeApiKey"]


async def _call(target: str, path: str, body: bytes) -> grpc.aio.AioRpcError:
    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.unary_unary(path, request_serializer=None, response_deserializer=None)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(body, timeout=5)
    return caught.value


def _assert_refused_plainly(error: grpc.aio.AioRpcError, captured: Capture) -> None:
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (error.code(), error.details())
    assert error.details() == "Malformed request"
    logged = "\n".join(captured.lines)
    assert "Traceback" not in logged
    assert "DecodeError" not in logged
    assert "Error parsing message" not in logged


@pytest.mark.parametrize("method", AUTH_METHODS)
async def test_every_rpc_refuses_bytes_that_are_not_its_message(
    method: str, authsvc_with_health: str, captured: Capture
) -> None:
    error = await _call(authsvc_with_health, f"/authsvc.v1.AuthService/{method}", TRUNCATED)
    _assert_refused_plainly(error, captured)


@pytest.mark.parametrize("method", STRING_FIRST)
async def test_a_string_field_that_is_not_utf8_is_malformed(
    method: str, authsvc_with_health: str, captured: Capture
) -> None:
    error = await _call(authsvc_with_health, f"/authsvc.v1.AuthService/{method}", BAD_UTF8)
    _assert_refused_plainly(error, captured)


async def test_a_batch_with_one_undecodable_check_is_malformed(
    authsvc_with_health: str, captured: Capture
) -> None:
    error = await _call(authsvc_with_health, "/authsvc.v1.AuthService/ValidateTokens", NESTED_BAD_UTF8)
    _assert_refused_plainly(error, captured)


async def test_health_refuses_undecodable_requests_alike(authsvc_with_health: str, captured: Capture) -> None:
    error = await _call(authsvc_with_health, "/grpc.health.v1.Health/Check", BAD_UTF8)
    _assert_refused_plainly(error, captured)
    async with grpc.aio.insecure_channel(authsvc_with_health) as channel:  # and still serves
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        reply = await check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_refuses_undecodable_requests_alike(
    authsvc_with_health: str, captured: Capture
) -> None:
    async with grpc.aio.insecure_channel(authsvc_with_health) as channel:
        stream = channel.stream_stream(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            request_serializer=None,
            response_deserializer=None,
        )
        call = stream(iter([BAD_UTF8]), timeout=5)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in call:
                pass
    _assert_refused_plainly(caught.value, captured)


async def test_health_watch_still_streams_and_refuses_undecodable_requests(
    authsvc_with_health: str, captured: Capture
) -> None:
    async with grpc.aio.insecure_channel(authsvc_with_health) as channel:
        watch = channel.unary_stream(
            "/grpc.health.v1.Health/Watch",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        call = watch(health_pb2.HealthCheckRequest(service="authsvc.v1.AuthService"), timeout=5)
        first = await call.read()
        call.cancel()
        assert first.status == health_pb2.HealthCheckResponse.SERVING
        raw = channel.unary_stream(
            "/grpc.health.v1.Health/Watch", request_serializer=None, response_deserializer=None
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            async for _ in raw(BAD_UTF8, timeout=5):
                pass
    _assert_refused_plainly(caught.value, captured)
