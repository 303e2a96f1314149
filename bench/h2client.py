"""Pipelined gRPC unary calls over one raw HTTP/2 connection, for bench.loadgen.

Requests are pre-encoded bytes, so a call costs the client two frames (HEADERS, DATA) written
and a few frames parsed. A call is OK when its reply message is not empty: every reply the
bench expects carries something, while AuthService's refusals carry at most an empty message
before their error trailers (the trailers themselves are HPACK, which this client skips). Flow
control is honoured both ways; SETTINGS and PING are acked.
"""

from __future__ import annotations

import array
import asyncio
import struct
import time
from collections import deque
from collections.abc import Sequence
from typing import cast

from bench import h2wire as w


class Run:
    """What the connections of one worker share: the pool, the clock window and the tallies."""

    def __init__(self, bodies: Sequence[bytes], once: bool, warmup: float, seconds: float) -> None:
        self.bodies, self.once, self._next = bodies, once, 0
        self.warm_end = self.end = 0.0
        self.warmup, self.seconds = warmup, seconds
        self.latencies = array.array("d")
        self.ok = self.errors = 0
        self.last_done = 0.0

    def start(self) -> None:
        self.warm_end = time.perf_counter() + self.warmup
        self.end = self.warm_end + self.seconds

    def next_body(self) -> bytes | None:
        if self.once and self._next >= len(self.bodies):
            return None
        body = self.bodies[self._next % len(self.bodies)]
        self._next += 1
        return body

    def record(self, started: float, now: float, ok: bool) -> None:
        if self.warm_end <= now <= self.end:
            self.latencies.append(now - started)
            self.last_done = now
            if ok:
                self.ok += 1
            else:
                self.errors += 1


class GrpcConnection(asyncio.Protocol):
    """Keeps `streams` calls in flight; with an `interval`, each starts at most that often."""

    def __init__(self, run: Run, block: bytes, streams: int, interval: float) -> None:
        self._run, self._streams, self._interval = run, streams, interval
        self._head = struct.pack(">I", len(block))[1:] + bytes((w.HEADERS, w.END_HEADERS))
        self._block = block
        self._sid = 1
        self._inflight: dict[int, list[float | bool]] = {}
        self._buffer = bytearray()
        self._send_window = w.DEFAULT_WINDOW
        self._blocked: deque[tuple[int, bytes]] = deque()
        self._received = 0
        self._out: list[bytes] | None = None  # writes are gathered while a read is processed
        self._closing = False
        self._loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[None] = self._loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self._transport.write(w.client_preamble())

    def begin(self) -> None:
        for _ in range(self._streams):
            self._send()

    def _send(self) -> None:
        run = self._run
        if time.perf_counter() >= run.end:
            return self._maybe_close()
        body = run.next_body()
        if body is None:
            return self._maybe_close()
        sid, self._sid = self._sid, self._sid + 2
        sid_bytes = struct.pack(">I", sid)
        data = struct.pack(">I", len(body))[1:] + bytes((w.DATA, w.END_STREAM)) + sid_bytes + body
        self._inflight[sid] = [time.perf_counter(), False]
        self._blocked.append((len(body), self._head + sid_bytes + self._block + data))
        self._flush()

    def _flush(self) -> None:
        """Writes queued calls while HTTP/2 flow control lets them through."""
        while self._blocked and self._send_window >= self._blocked[0][0]:
            size, frames = self._blocked.popleft()
            self._send_window -= size
            self._write(frames)

    def _write(self, data: bytes) -> None:
        if self._out is None:
            self._transport.write(data)
        else:
            self._out.append(data)

    def _complete(self, sid: int, ok: bool) -> None:
        state = self._inflight.pop(sid, None)
        if state is None:
            return
        now = time.perf_counter()
        self._run.record(float(state[0]), now, ok and bool(state[1]))
        if self._interval:
            delay = float(state[0]) + self._interval - now
            self._loop.call_later(max(delay, 0.0), self._send)
        else:
            self._send()

    def data_received(self, data: bytes) -> None:
        buf = self._buffer
        buf += data
        pos, size = 0, len(buf)
        self._out = []
        while size - pos >= 9:
            length = int.from_bytes(buf[pos : pos + 3], "big")
            if size - pos < 9 + length:
                break
            kind, flags = buf[pos + 3], buf[pos + 4]
            sid = int.from_bytes(buf[pos + 5 : pos + 9], "big") & 0x7FFFFFFF
            begin, pos = pos + 9, pos + 9 + length
            if kind == w.DATA:
                self._received += length
                if length > 5 and sid in self._inflight:  # more than the 5-byte message prefix
                    self._inflight[sid][1] = True
                if flags & w.END_STREAM:
                    self._complete(sid, True)
            elif kind == w.HEADERS and flags & w.END_STREAM:
                self._complete(sid, True)
            elif kind == w.RST_STREAM:
                self._complete(sid, False)
            else:
                self._control(kind, flags, sid, bytes(buf[begin:pos]))
        del buf[:pos]
        if self._received > 1 << 30:
            self._out.append(w.window_update(0, self._received))
            self._received = 0
        out, self._out = self._out, None
        if out:
            self._transport.write(b"".join(out))
        if self._closing:
            self._transport.close()

    def _control(self, kind: int, flags: int, sid: int, payload: bytes) -> None:
        if kind == w.SETTINGS and not flags & w.ACK:
            self._write(w.frame(w.SETTINGS, w.ACK, 0))
        elif kind == w.PING and not flags & w.ACK:
            self._write(w.frame(w.PING, w.ACK, 0, payload))
        elif kind == w.WINDOW_UPDATE and sid == 0:
            self._send_window += struct.unpack(">I", payload)[0] & 0x7FFFFFFF
            self._flush()
        elif kind == w.GOAWAY:
            self._transport.close()

    def _maybe_close(self) -> None:
        if not self._inflight:
            self._closing = True
            if self._out is None:
                self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if time.perf_counter() < self._run.end:
            self._run.errors += len(self._inflight)
        if not self.closed.done():
            self.closed.set_result(None)
