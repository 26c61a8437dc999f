"""One client connection as the node sees it: identity, codec, and two ways to write.

``write_frame`` is the fan-out path: a frame already built for the whole room is written
straight to the transport. If the client does not read, the transport's buffer grows; past
``max_outgoing_bytes`` the connection is cut off (close 4000) instead of holding more memory.
``send`` is the request/reply path: it awaits the transport draining, so a client that reads
slowly slows only its own requests.

Neither raises when the socket is already gone or closing (a page closed while an event was on
its way: uvloop's transport raises RuntimeError once closed, asyncio's drops the bytes and warns).
The connection is marked closed at once, so no later write tries it, and its session ends as the
handler sees the socket close, as for any disconnect. A room's fan-out never depends on one
member's socket.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ..auth import Identity
from ..errors import CloseCode
from ..protocol import Codec, build_frame

__all__ = ["Connection"]

log = logging.getLogger(__name__)
_ids = itertools.count(1)
ABORT_GRACE_S = 5.0  # a cut-off client gets this long to read its backlog and the close frame


class Connection:
    __slots__ = (
        "__weakref__",
        "_closing",
        "_max_out",
        "_on_close",
        "_transport",
        "closed",
        "codec",
        "id",
        "identity",
        "rooms",
        "ws",
    )

    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport, codec: Codec, *,
                 max_outgoing_bytes: int, on_close: Callable[[Connection, CloseCode], None], node_id: str):
        self.id = f"{node_id}:{next(_ids)}"
        self.identity: Identity | None = None
        self.codec = codec
        self.ws = ws
        self.rooms: dict[str, Any] = {}  # room id -> Membership (owned by the hub)
        self.closed = False
        self._transport = transport
        self._max_out = max_outgoing_bytes
        self._on_close = on_close
        self._closing: asyncio.Future[Any] | None = None

    @property
    def user_id(self) -> str:
        assert self.identity is not None
        return self.identity.user_id

    def write_frame(self, frame: bytes) -> None:
        if self.closed:
            return
        transport = self._transport
        if transport.is_closing():  # about 12 ns on uvloop: well under 1 % of a delivery
            self._lost()
            return
        if transport.get_write_buffer_size() > self._max_out:
            self.close_soon(CloseCode.SLOW_CONSUMER, "slow consumer: reconnect and resume")
            return
        try:
            transport.write(frame)
        except RuntimeError:  # closed between the check and the write; the try costs nothing otherwise
            self._lost()

    def encode(self, event: dict[str, Any]) -> bytes:
        return build_frame(self.codec.encode(event), self.codec.opcode)

    async def send(self, event: dict[str, Any]) -> None:
        if self.closed:
            return
        if self._transport.get_write_buffer_size() > self._max_out:
            self.close_soon(CloseCode.SLOW_CONSUMER, "slow consumer: reconnect and resume")
            return
        try:
            # opcode: RFC 6455's number (protocol/ stays free of aiohttp), the value of aiohttp's WSMsgType
            await self.ws.send_frame(self.codec.encode(event), self.codec.opcode)  # type: ignore[arg-type]
        except (ConnectionError, RuntimeError):
            self._lost()

    def _lost(self) -> None:
        """The socket is gone or going: stop all delivery to it now. Nothing more to do here: a closed
        or closing transport reports itself lost, the handler's read loop ends and the session ends
        as for any disconnect (aborting it instead could drop a close frame aiohttp is still sending)."""
        self.closed = True

    def close_soon(self, code: CloseCode, reason: str) -> None:
        """Stop all delivery now, send the close frame, and drop the socket if the peer never answers."""
        if self.closed:
            return
        self.closed = True
        self._on_close(self, code)
        transport = self._transport
        task = asyncio.ensure_future(self.ws.close(code=code, message=reason.encode()[:120]))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        self._closing = task
        asyncio.get_running_loop().call_later(ABORT_GRACE_S, transport.abort)

    async def wait_closed(self) -> None:
        """Wait for a close started by ``close_soon`` to finish (handshake done or socket dropped)."""
        if self._closing is not None:
            await asyncio.wait([self._closing])
