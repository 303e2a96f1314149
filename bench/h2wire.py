"""Just enough HTTP/2 (RFC 9113) to pipeline gRPC unary calls: frames, HPACK literals, gRPC framing."""

from __future__ import annotations

import struct

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0x0, 0x1, 0x3, 0x4, 0x6, 0x7, 0x8
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
SETTINGS_HEADER_TABLE_SIZE, SETTINGS_ENABLE_PUSH, SETTINGS_INITIAL_WINDOW_SIZE = 0x1, 0x2, 0x4
MAX_WINDOW = 2**31 - 1
DEFAULT_WINDOW = 65_535


def frame(kind: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes((kind, flags)) + struct.pack(">I", stream_id) + payload


def client_preamble() -> bytes:
    """Preface, SETTINGS (no push, widest stream windows) and a connection window just as wide."""
    settings = struct.pack(">HIHI", SETTINGS_ENABLE_PUSH, 0, SETTINGS_INITIAL_WINDOW_SIZE, MAX_WINDOW)
    return PREFACE + frame(SETTINGS, 0, 0, settings) + window_update(0, MAX_WINDOW - DEFAULT_WINDOW)


def window_update(stream_id: int, increment: int) -> bytes:
    return frame(WINDOW_UPDATE, 0, stream_id, struct.pack(">I", increment))


def _hpack_int(value: int, prefix_bits: int, first: int = 0) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((first | value,))
    out, value = bytearray((first | limit,)), value - limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _literal(name: bytes, value: bytes) -> bytes:
    """A literal header field without indexing, new name, no Huffman (RFC 7541 §6.2.2)."""
    return b"\x00" + _hpack_int(len(name), 7) + name + _hpack_int(len(value), 7) + value


def grpc_header_block(authority: str, path: str) -> bytes:
    fields = (
        (b":method", b"POST"),
        (b":scheme", b"http"),
        (b":path", path.encode()),
        (b":authority", authority.encode()),
        (b"content-type", b"application/grpc"),
        (b"te", b"trailers"),
    )
    return b"".join(_literal(name, value) for name, value in fields)


def grpc_message(payload: bytes) -> bytes:
    """gRPC length-prefixed message: 0 (uncompressed) and a 4-byte big-endian length."""
    return b"\x00" + struct.pack(">I", len(payload)) + payload


def split_messages(blob: bytes) -> list[bytes]:
    """The inverse of concatenating `grpc_message`s: each message with its prefix kept."""
    out, pos = [], 0
    while pos < len(blob):
        end = pos + 5 + struct.unpack_from(">I", blob, pos + 1)[0]
        out.append(blob[pos:end])
        pos = end
    return out
