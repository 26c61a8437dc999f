"""A minimal WebSocket client as an asyncio Protocol: one handshake, then frames.

Cheap enough to receive tens of thousands of frames per second per process: server frames
are unmasked (RFC 6455 section 5.1) and parsed straight out of the received bytes; client
frames are masked with a random key. Subclasses implement ``on_message(payload, now_us)``,
called once per text or binary message with the receive time of its chunk in microseconds.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import random
import struct
import time

__all__ = ["HandshakeError", "WsProtocol", "build_client_frame"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_LEN2 = struct.Struct("!BBH").pack
_LEN8 = struct.Struct("!BBQ").pack
_MASK = struct.Struct("!I").pack
_MAX_HANDSHAKE = 16_384
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class HandshakeError(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(f"HTTP {status}: {detail}" if status else detail)
        self.status = status


def _mask(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    if not n:
        return payload
    stream = int.from_bytes((key * (n // 4 + 1))[:n], "little")
    return (int.from_bytes(payload, "little") ^ stream).to_bytes(n, "little")


def build_client_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """One final frame, masked with a fresh random key as a client must."""
    key_int = random.getrandbits(32)
    key = _MASK(key_int)
    n = len(payload)
    first = 0x80 | opcode
    if n < 126:
        header = bytes((first, 0x80 | n))
    elif n < 65536:
        header = _LEN2(first, 0x80 | 126, n)
    else:
        header = _LEN8(first, 0x80 | 127, n)
    return header + key + _mask(payload, key)


class WsProtocol(asyncio.Protocol):
    """Sends the upgrade request on connect; ``opened`` resolves with the chosen subprotocol."""

    def __init__(self, host: str, path: str, headers: dict[str, str], subprotocol: str):
        loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[str] = loop.create_future()
        self.closed = False
        self.close_code: int | None = None
        self._host = host
        self._path = path
        self._headers = headers
        self._subprotocol = subprotocol
        self._key = base64.b64encode(os.urandom(16))
        self._handshaking = True
        self._buf = b""
        self._fragments: list[bytes] | None = None

    # -- hooks --------------------------------------------------------------------------------
    def on_message(self, payload: bytes, now_us: int) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def on_closed(self) -> None:
        """Called once when the connection ends (close frame or socket lost)."""

    # -- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio's classes
        lines = [
            f"GET {self._path} HTTP/1.1", f"Host: {self._host}", "Upgrade: websocket", "Connection: Upgrade",
            f"Sec-WebSocket-Key: {self._key.decode()}", "Sec-WebSocket-Version: 13",
            f"Sec-WebSocket-Protocol: {self._subprotocol}",
        ]
        lines += [f"{name}: {value}" for name, value in self._headers.items()]
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(HandshakeError(0, f"connection lost during handshake: {exc}"))
        self._mark_closed()

    def data_received(self, data: bytes) -> None:
        if self._handshaking:
            rest = self._handshake(data)
            if rest is None:
                return
            data = rest
        buf = self._buf + data if self._buf else data
        size = len(buf)
        pos = 0
        now_us = time.time_ns() // 1000
        while size - pos >= 2:
            b0 = buf[pos]
            length = buf[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length = (buf[start] << 8) | buf[start + 1]
                start += 2
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[start:start + 8], "big")
                start += 8
            end = start + length
            if end > size:
                break
            pos = end
            opcode = b0 & 0x0F
            if opcode == OP_TEXT or opcode == OP_BINARY:
                if b0 & 0x80:
                    self.on_message(buf[start:end], now_us)
                else:
                    self._fragments = [buf[start:end]]
            elif opcode == OP_CONT and self._fragments is not None:
                self._fragments.append(buf[start:end])
                if b0 & 0x80:
                    payload, self._fragments = b"".join(self._fragments), None
                    self.on_message(payload, now_us)
            elif opcode == OP_PING:
                self.send_frame(buf[start:end], OP_PONG)
            elif opcode == OP_CLOSE:
                self._on_close_frame(buf[start:end])
                return
        self._buf = buf[pos:] if pos < size else b""

    # -- sending ------------------------------------------------------------------------------
    def send_frame(self, payload: bytes, opcode: int = OP_TEXT) -> bool:
        if self.closed or self.transport is None:
            return False
        self.transport.write(build_client_frame(payload, opcode))
        return True

    def close(self, code: int = 1000) -> None:
        if self.closed or self.transport is None:
            return
        self.send_frame(struct.pack("!H", code), OP_CLOSE)
        self.transport.close()
        self._mark_closed()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
        self._mark_closed()

    # -- internals ----------------------------------------------------------------------------
    def _mark_closed(self) -> None:
        if not self.closed:
            self.closed = True
            self.on_closed()

    def _on_close_frame(self, payload: bytes) -> None:
        self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
        if not self.closed and self.transport is not None:
            self.send_frame(payload[:2], OP_CLOSE)
            self.transport.close()
        self._mark_closed()

    def _handshake(self, data: bytes) -> bytes | None:
        buf = self._buf + data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            self._buf = buf
            if len(buf) > _MAX_HANDSHAKE:
                self._fail(HandshakeError(0, "handshake response too long"))
            return None
        head, rest = buf[:end].decode("latin-1"), buf[end + 4:]
        self._buf = b""
        status_line, *header_lines = head.split("\r\n")
        parts = status_line.split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if status != 101:
            detail = rest[:200].decode("utf-8", "replace").strip() or (parts[2] if len(parts) > 2 else "")
            self._fail(HandshakeError(status, detail))
            return None
        accept = base64.b64encode(hashlib.sha1(self._key + _GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != accept:
            self._fail(HandshakeError(status, "bad Sec-WebSocket-Accept"))
            return None
        self._handshaking = False
        self.opened.set_result(headers.get("sec-websocket-protocol", ""))
        return rest

    def _fail(self, exc: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()
