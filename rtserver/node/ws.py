"""``/ws``: the transport. Checks origin and capacity, negotiates the codec, moves frames.

A client authenticates either with an ``Authorization: Bearer`` header (servers, the Python
SDK) or, as browsers cannot set headers on a WebSocket, with a first ``auth`` message. Tokens
are never accepted in the URL, so they never reach access logs.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from aiohttp import WSMsgType, web

from ..delivery.connection import Connection
from ..errors import CloseCode, ErrorCode, RtError
from ..protocol import CODECS, JSON, events
from .node import Node
from .origins import origin_allowed, request_origin
from .preauth import Hold, PendingAuth

__all__ = ["NODE_KEY", "PENDING_AUTH_KEY", "websocket_handler"]

log = logging.getLogger(__name__)
NODE_KEY: web.AppKey[Node] = web.AppKey("rtserver_node", Node)
PENDING_AUTH_KEY: web.AppKey[PendingAuth] = web.AppKey("rtserver_pending_auth", PendingAuth)


async def websocket_handler(request: web.Request) -> web.StreamResponse:
    node = request.app[NODE_KEY]
    settings = node.settings
    origin = request.headers.get("Origin")
    if origin is not None and not origin_allowed(origin, request_origin(request), settings.origins()):
        raise web.HTTPForbidden(text="origin not allowed")
    if not node.accepting:
        raise web.HTTPServiceUnavailable(text="server restarting", headers={"Retry-After": "1"})
    if len(node.connections) >= settings.max_connections:
        raise web.HTTPServiceUnavailable(text="node is full", headers={"Retry-After": "5"})
    if "token" in request.query:
        raise web.HTTPBadRequest(text="tokens are not accepted in the URL; send an auth message")
    identity = None
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        try:
            if scheme.lower() != "bearer" or not token:
                raise RtError("expected Authorization: Bearer <token>")
            identity = node.verifier.verify(token.strip())
        except RtError as exc:
            raise web.HTTPUnauthorized(text=exc.message) from None
    # Not yet authenticated: counted per peer address until its auth message (rtserver/node/preauth.py).
    hold = None
    if identity is None:
        hold = request.app[PENDING_AUTH_KEY].hold(request.remote or "")
        if hold is None:
            raise web.HTTPTooManyRequests(text="too many connections from this address waiting to authenticate",
                                          headers={"Retry-After": str(math.ceil(settings.auth_timeout_s))})
    try:
        return await _serve(request, node, identity, hold)
    finally:
        if hold is not None:
            hold.release()


async def _serve(request: web.Request, node: Node, identity: Any, hold: Hold | None) -> web.StreamResponse:
    settings = node.settings
    ws = web.WebSocketResponse(
        protocols=tuple(CODECS), compress=False,  # frames are shared by a room's members: no per-connection deflate
        max_msg_size=settings.hard_max_frame_bytes, heartbeat=settings.heartbeat_s)
    await ws.prepare(request)
    transport = request.transport
    if transport is None:
        return ws
    codec = CODECS.get(ws.ws_protocol or "", JSON)
    conn = Connection(ws, transport, codec, max_outgoing_bytes=settings.max_outgoing_bytes,
                      on_close=node.on_connection_closed, node_id=node.id)
    node.connections.add(conn)
    node.metrics.connections.inc()
    session = node.new_session()
    loop = asyncio.get_running_loop()
    auth_timer = None
    try:
        if identity is not None:
            await node.authenticate(conn, session, None, identity)
        else:
            auth_timer = loop.call_later(settings.auth_timeout_s, _auth_deadline, conn)
        async for msg in ws:
            if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                await node.handle_frame(conn, session, msg.data)
                if auth_timer is not None and conn.identity is not None:
                    auth_timer.cancel()
                    auth_timer = None
                    if hold is not None:
                        hold.release()
            if conn.closed:
                break
    except RtError as exc:  # opening the session failed (header auth path)
        log.info("session %s refused: %s", conn.id, exc.message)
        await conn.send(events.error_of(exc))
        conn.close_soon(CloseCode.UNAUTHORIZED if exc.code is ErrorCode.UNAUTHORIZED else CloseCode.TRY_AGAIN_LATER,
                        exc.message)
    finally:
        if auth_timer is not None:
            auth_timer.cancel()
        node.metrics.connections.dec()
        node.connections.discard(conn)
        node.end_session(conn)
        await conn.wait_closed()  # let a close the node started finish with its own code
    if ws.close_code is None and not conn.closed:
        await ws.close()
    return ws


def _auth_deadline(conn: Connection) -> None:
    if conn.identity is None:
        conn.close_soon(CloseCode.AUTH_TIMEOUT, "no auth message in time")
