"""A call's request id, as log lines read it: from the call's metadata once, and never after the
call has ended (grpc.aio's context then refers to released memory: under load, reading it
returned garbage, and grpc's own error line about it asked again, round and round)."""

from __future__ import annotations

from typing import Any

from authsvc.grpc_api.errors import CallRequestId


class _Context:
    """Stands in for grpc.aio's ServicerContext: counts the reads of its metadata."""

    def __init__(self, request_id: str) -> None:
        self.reads = 0
        self._metadata = (("x-request-id", request_id),)

    def invocation_metadata(self) -> Any:
        self.reads += 1
        return self._metadata


def test_the_id_is_read_once_and_kept_for_every_line_of_the_call() -> None:
    context = _Context("req-42")
    request_id = CallRequestId(context)  # type: ignore[arg-type]
    assert context.reads == 0  # nothing logged, nothing read
    assert request_id() == "req-42" and request_id() == "req-42"
    assert context.reads == 1
    request_id.end()
    assert request_id() == "req-42"  # what was read stays; the context is not touched again
    assert context.reads == 1


def test_after_the_call_ended_the_context_is_never_read() -> None:
    context = _Context("req-7")
    request_id = CallRequestId(context)  # type: ignore[arg-type]
    request_id.end()  # a task the call started logs later
    assert request_id() is None
    assert context.reads == 0


def test_a_line_logged_while_the_id_is_being_read_does_not_read_again() -> None:
    class Reentrant(_Context):
        def invocation_metadata(self) -> Any:
            inner.append(request_id())  # what a log line written from inside the read would see
            return super().invocation_metadata()

    inner: list[str | None] = []
    context = Reentrant("req-9")
    request_id = CallRequestId(context)  # type: ignore[arg-type]
    assert request_id() == "req-9"
    assert inner == [None] and context.reads == 1
