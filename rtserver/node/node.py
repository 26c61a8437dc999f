"""One node: the life of a client session, and the table of request handlers it dispatches to.

The WebSocket handler (``ws.py``) moves frames; this class decides what a frame means.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from ..auth import Identity, TokenVerifier
from ..backends import Backends
from ..config import Settings
from ..delivery.connection import Connection
from ..delivery.hub import Hub
from ..errors import CloseCode, ErrorCode, RtError
from ..feature import Feature, Handler, merge_requests
from ..logthrottle import LogThrottle
from ..metrics import Metrics, watch_loop_lag
from ..protocol import (
    Auth,
    CallSignal,
    History,
    Join,
    Leave,
    Limits,
    ListRooms,
    Ping,
    Read,
    Request,
    Send,
    Session,
    SetPresence,
    Typing,
    events,
    parse_request,
    request_id,
)
from ..services import ChatService, PresenceService
from ..tasks import BackgroundTasks

__all__ = ["Node"]

TOKEN_SWEEP_INTERVAL_S = 1.0
# One traceback per cause a minute is enough to diagnose a bug and bounds what a client triggering it
# at will can write: about 1.3 KB a minute per cause instead of 1.3 KB per frame.
FAILURE_LOG_INTERVAL_S = 60.0

log = logging.getLogger(__name__)


class Node:
    """The session life and the request table. Built by the composition root (``rtserver/compose.py``)
    from the core collaborators and the features, whose request handlers join the node's own in one
    table (``merge_requests``: a type claimed twice is a ValueError)."""

    def __init__(self, settings: Settings, *, node_id: str, backends: Backends, metrics: Metrics,
                 verifier: TokenVerifier, hub: Hub, presence: PresenceService, chat: ChatService,
                 features: Sequence[Feature] = ()):
        self.id = node_id
        self.settings = settings
        self.backends = backends
        self.metrics = metrics
        self.verifier = verifier
        self.hub = hub
        self.presence = presence
        self.chat = chat
        self.connections: set[Connection] = set()  # added and removed by the WebSocket handler
        self.accepting = True
        self._limits = Limits(max_text_chars=settings.max_text_chars, history_page_max=settings.history_page_max)
        core = Feature(name="chat", requests={
            Join: chat.join, Leave: chat.leave, Send: chat.send, Typing: chat.typing, CallSignal: chat.call_signal,
            Read: chat.read, History: chat.history, SetPresence: self._set_presence,
            Ping: self._ping, ListRooms: lambda conn, req: chat.rooms(conn, req.id),
        })
        self._routes: dict[type[Request], Handler] = merge_requests([core, *features])
        self._connection_closed = [listener for f in features for listener in f.connection_closed]
        self._tasks = BackgroundTasks("announcing a departure", logger=log, level=logging.WARNING)
        self._failures = LogThrottle(log, interval_s=FAILURE_LOG_INTERVAL_S)
        self._expiry_sweeper: asyncio.Task[None] | None = None
        self._lag_watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.backends.store.open()
        await self.backends.broker.start(self.hub)
        self._expiry_sweeper = asyncio.create_task(self._sweep_expired_tokens(), name="token-expiry")
        self._lag_watch = asyncio.create_task(watch_loop_lag(self.metrics.loop_lag), name="loop-lag")

    async def stop(self) -> None:
        if self._lag_watch is not None:
            self._lag_watch.cancel()
            await asyncio.gather(self._lag_watch, return_exceptions=True)
        if self._expiry_sweeper is not None:
            self._expiry_sweeper.cancel()
            await asyncio.gather(self._expiry_sweeper, return_exceptions=True)
        await self._tasks.wait()
        await self.hub.close()
        await self.backends.broker.close()
        await self.backends.presence.close()
        await self.backends.store.close()

    def new_session(self) -> Session:
        s = self.settings
        return Session(rate_per_s=s.max_messages_per_s, burst=s.burst_messages, max_violations=s.max_violations,
                       joins_per_s=s.max_joins_per_s, join_burst=s.burst_joins,
                       now=time.monotonic())

    # -- frames -------------------------------------------------------------------------------
    async def handle_frame(self, conn: Connection, session: Session, data: bytes | str) -> None:
        """Admit, decode, validate and run one request; answer errors on the connection.

        The frame budget is charged before anything is decoded, so a flood past it costs one size
        check and one token bucket per frame; each request type's own budget is charged once parsed.
        """
        rid: object = None
        try:
            now = time.monotonic()
            session.admit_frame(now)
            if len(data) > self.settings.max_frame_bytes:
                raise RtError(f"frame is larger than {self.settings.max_frame_bytes} bytes",
                              code=ErrorCode.MESSAGE_TOO_LARGE)
            frame = conn.codec.decode(data)
            rid = request_id(frame)
            request = parse_request(frame, self._limits)
            session.admit(request, now)
            self.metrics.requests.labels(type(request).__name__.lower()).inc()
            if isinstance(request, Auth):
                await self.authenticate(conn, session, request)
                return
            reply = await self._routes[type(request)](conn, request)
            if reply is not None:
                await conn.send(reply)
        except RtError as exc:
            await self._refuse(conn, session, exc, rid)
        except Exception as exc:
            self._failures.exception("request failed", exc)
            await self._refuse(conn, session, RtError("internal error", code=ErrorCode.INTERNAL), rid)

    async def _refuse(self, conn: Connection, session: Session, exc: RtError, rid: object) -> None:
        """Answer the error; count it as a violation unless it is the store's fault (``unavailable``).

        ``internal`` counts too: a request that trips a bug can be sent again and again, and each
        costs a traceback (logged once per cause per interval) and the work before it.
        """
        self.metrics.errors.labels(str(exc.code)).inc()
        await conn.send(events.error_of(exc, rid))
        if exc.code is ErrorCode.UNAUTHORIZED and conn.identity is None:
            conn.close_soon(CloseCode.UNAUTHORIZED, exc.message)
        elif exc.code is not ErrorCode.UNAVAILABLE and session.violation(time.monotonic()):
            conn.close_soon(CloseCode.POLICY_VIOLATION, "too many bad or rate-limited requests")

    # -- session life -----------------------------------------------------------------------
    async def authenticate(self, conn: Connection, session: Session, req: Auth | None,
                           identity: Identity | None = None) -> None:
        """First authentication opens the session; a later one (same user, same role) extends it."""
        if identity is None:
            assert req is not None
            identity = self.verifier.verify(req.token)
        if conn.identity is not None:
            # The role decides what the session may do (joins already made, advisor-only requests):
            # a refresh that changed it would be a promotion without reconnecting.
            if (identity.user_id, identity.role) != (conn.identity.user_id, conn.identity.role):
                raise RtError("a refreshed token must name the same user with the same role",
                              code=ErrorCode.FORBIDDEN)
            conn.identity = identity
            await conn.send(events.ok_reply(None if req is None else req.id, expires=int(identity.expires_at)))
            return
        if len(self.hub.user_connections(identity.user_id)) >= self.settings.max_connections_per_user:
            self.metrics.errors.labels(str(ErrorCode.TOO_MANY_CONNECTIONS)).inc()
            refusal = RtError(f"at most {self.settings.max_connections_per_user} connections per user",
                              code=ErrorCode.TOO_MANY_CONNECTIONS)
            await conn.send(events.error_of(refusal, None if req is None else req.id))
            conn.close_soon(CloseCode.TOO_MANY_CONNECTIONS, "too many connections for this user")
            return
        conn.identity = identity
        try:
            await self.presence.connected(conn)
            rooms = await self.chat.rooms(conn, None)
        except BaseException:
            conn.identity = None  # not open: nothing to clean up but the presence entry
            task = asyncio.ensure_future(self.backends.presence.remove(identity.user_id, conn.id))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            raise
        session.authenticated()
        self.hub.add_connection(conn)
        s = self.settings
        await conn.send(events.hello_reply(
            None if req is None else req.id, user=identity.user_id,
            role=str(identity.role), name=identity.name, session=conn.id, node=self.id,
            server_time=int(time.time() * 1000), expires=int(identity.expires_at),
            rooms=rooms["rooms"],
            limits={"max_frame_bytes": s.max_frame_bytes, "max_text_chars": s.max_text_chars,
                    "max_messages_per_s": s.max_messages_per_s, "burst_messages": s.burst_messages,
                    "max_joins_per_s": s.max_joins_per_s, "burst_joins": s.burst_joins,
                    "history_page_max": s.history_page_max, "typing_ttl_s": s.typing_ttl_s,
                    # Clients ping at this pace too, so each side finds a dead link in bounded time.
                    "heartbeat_s": s.heartbeat_s},
        ))

    async def _sweep_expired_tokens(self) -> None:
        """Close sessions whose token expired, checked once a second for all connections.

        One sweep instead of a timer per connection: a timer costs about 0.7 KiB per idle
        connection, and a second's precision is plenty for an expiry measured in minutes.
        """
        while True:
            await asyncio.sleep(TOKEN_SWEEP_INTERVAL_S)
            now = time.time()
            for conn in [c for c in self.connections if c.identity is not None and c.identity.expires_at <= now]:
                conn.close_soon(CloseCode.TOKEN_EXPIRED, "token expired: refresh it and reconnect")

    def end_session(self, conn: Connection) -> None:
        """Forget the connection now; announce the departure in a task of the node's own.

        aiohttp cancels a handler whose peer vanished, so the announcements must not run in it.
        """
        conn.closed = True
        self._tasks.spawn(self._end_session(conn))

    async def _end_session(self, conn: Connection) -> None:
        if conn.identity is None:
            return
        left = self.hub.remove_connection(conn)
        for listener in self._connection_closed:  # the media routing: the connection leaves its interviews
            listener(conn)
        try:
            for room_id, kind in left:
                await self.chat.announce_left(conn, room_id, kind)
            await self.presence.disconnected(conn)
        except RtError as exc:  # the store or broker is down: presence expires by itself
            log.warning("could not announce %s leaving: %s", conn.id, exc.message)

    async def _set_presence(self, conn: Connection, req: SetPresence) -> dict[str, Any] | None:
        await self.presence.set_status(conn, req.status, req.availability)
        return None if req.id is None else events.ok_reply(req.id)

    async def _ping(self, conn: Connection, req: Ping) -> dict[str, Any]:
        return events.pong_reply(req.id, int(time.time() * 1000))

    def on_connection_closed(self, conn: Connection, code: CloseCode) -> None:
        """Called when the node cuts a connection (its ``closed`` flag already stops fan-out to it)."""
        self.metrics.closes.labels(str(int(code))).inc()

    async def shutdown_connections(self) -> None:
        """Tell every client to reconnect elsewhere (1012), then wait briefly for them to go."""
        self.accepting = False
        conns = list(self.connections)
        for conn in conns:
            conn.close_soon(CloseCode.SERVICE_RESTART, "server restarting: reconnect and resume")
        if conns:
            await asyncio.wait([asyncio.ensure_future(c.wait_closed()) for c in conns],
                               timeout=self.settings.shutdown_timeout_s)
