"""Several nodes: each interview lives on one node, and its signalling reaches it from any node.

An interview's peer connections, forwarding and state live in one process (``MediaService``).
With several nodes (one per core, or per machine), the first ``media_join`` of an interview
claims it for the node it arrives at, in the ``MediaDirectory`` (Redis: a key with a lease).
A participant whose WebSocket is on another node keeps that WebSocket: its node forwards each
``media_*`` request through the broker to the hosting node and relays the reply and the events
back. Media itself goes directly between the browser and the hosting node (its ICE candidates
carry that node's address), so only signalling crosses nodes.

Why forward rather than send the client to the hosting node: a browser keeps one WebSocket,
load balancers place WebSockets on any node, and nodes need not be reachable one by one for
signalling; forwarding costs one Redis round trip per signalling message, a few per interview.

A member removed from a chat room (``ChatService.remove_member``: the HTTP API, a transfer) must
leave its interview at once, but the hosting node hears of the chat's ``removed`` event only if
one of its connections has joined that chat room, which need not be. So the node that removed
the member tells the hosting node directly (``member_removed``: a ``recheck`` message), and the
hosting node re-reads the membership of the interview's participants from the store.

Liveness, both ways, on the node heartbeat:
- the hosting node renews its leases; a node that loses one (Redis lost it, or the node was
  cut off long enough for another to claim the interview) closes its copy (``media_closed``,
  ``moved``) and the participants join again, reaching the new host;
- a forwarding node tells each hosting node which of its connections are still there; a
  hosting node that stops hearing about one treats it as a dropped WebSocket
  (``media_drop_timeout_s`` applies);
- the hosting node re-checks the membership of its interviews' participants (``revalidate``):
  a removal it missed (the message below lost, the node that removed the member down) ends
  the removed user's session at the next heartbeat;
- a forwarding node checks that the interviews it forwards to are still held by the same node;
  when not, at two heartbeats in a row (the host died and its lease ran out; one heartbeat
  lets what a host that shut down sent before letting go arrive first), it tells its clients
  ``media_closed`` ``host_lost``, and their next ``media_join`` claims the interview elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ..auth import Identity, Role
from ..backends import Broker, MediaDirectory
from ..errors import ErrorCode, RtError, Unavailable
from ..feature import Feature
from ..logprivacy import personal
from ..protocol import events
from ..protocol.media import MEDIA_PARSERS, MediaJoin, MediaLeave, MediaRequest, media_frame
from ..tasks import BackgroundTasks, honour_cancellation
from .signalling import echo_room_owner

if TYPE_CHECKING:
    from ..delivery.connection import Connection
    from .signalling import Handler, MediaService

__all__ = ["MediaRouting"]

log = logging.getLogger(__name__)


class RemoteConnection:
    """A WebSocket on another node, as the hosting node's ``MediaService`` sees it."""

    __slots__ = ("__weakref__", "_routing", "closed", "id", "identity", "last_seen", "origin")

    def __init__(self, routing: MediaRouting, origin: str, conn_id: str, identity: Identity):
        self.id = conn_id
        self.origin = origin
        self.identity = identity
        self.closed = False
        self.last_seen = time.monotonic()
        self._routing = routing

    @property
    def user_id(self) -> str:
        return self.identity.user_id

    async def send(self, event: dict[str, Any]) -> None:
        if not self.closed:
            await self._routing.send_quietly(self.origin, {"op": "event", "conn": self.id, "event": event})


class MediaRouting:
    def __init__(self, *, node_id: str, media: MediaService, broker: Broker, directory: MediaDirectory,
                 timeout_s: float, heartbeat_s: float, lease_s: float, registry: CollectorRegistry):
        self.node_id = node_id
        self.media = media
        self._broker = broker
        self._directory = directory
        self._timeout_s = timeout_s
        self._heartbeat_s = heartbeat_s
        self._lease_s = lease_s
        self._local: dict[type, Handler] = media.routes()
        self._rids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any] | None]] = {}
        # Other messages a node inbox carries, by ``op`` (a person's erasure closing connections):
        # the inbox is this module's, the ops are other features'.
        self.node_ops: dict[str, Callable[[dict[str, Any]], None]] = {}
        # forwarding side: our connections whose interviews are hosted elsewhere
        self._remote: dict[Connection, dict[str, str]] = {}  # conn -> {room: hosting node}
        self._conns: dict[str, Connection] = {}  # conn id -> conn, for the events relayed back
        # Events relayed back for a connection whose forwarded join is not answered yet: the host
        # may send the first offer before its reply arrives here, and the client must see the
        # reply first. Written right after it.
        self._early: dict[str, list[dict[str, Any]]] = {}
        self._joins_pending: dict[str, int] = {}
        # Interviews whose host was missing at the last heartbeat: judged lost at the next one, so
        # what the host sent before letting go (a shutdown's media_closed) arrives first.
        self._host_missing: set[tuple[str, str]] = set()
        # hosting side
        self._proxies: dict[tuple[str, str], RemoteConnection] = {}  # (origin node, conn id) -> proxy
        self._held: set[str] = set()  # rooms this node claimed
        self._joining: dict[str, int] = {}  # rooms with a local join in progress (claimed, not yet in media.rooms)
        self._tasks = BackgroundTasks("serving a forwarded media request", logger=log)
        self._ticker: asyncio.Task[None] | None = None
        self._closing = False
        self._forwarded = Counter("rtserver_media_forwarded_requests", "media requests forwarded to the node "
                                  "hosting the interview, by outcome (ok, error, timeout)", ["outcome"],
                                  registry=registry)
        self._forward_time = Histogram("rtserver_media_forward_seconds", "round trip of a forwarded media request",
                                       buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
                                       registry=registry)
        Gauge("rtserver_media_remote_connections", "connections of other nodes taking part in interviews hosted "
              "here", registry=registry).set_function(lambda: len(self._proxies))

    def routes(self) -> dict[type, Handler]:
        return dict.fromkeys(self._local, self.handle)

    def feature(self) -> Feature:
        """The ``media_*`` requests (each served here or forwarded to the interview's node); a member
        removed from a chat room leaves its interview; a closed WebSocket leaves its interviews.
        Closed before the features declared earlier (interview outcomes: the rooms' final records)."""
        return Feature(name="media", requests=self.routes(), member_removed=[self.member_removed],
                       connection_closed=[self.connection_closed], start=self.start, close=self.close)

    async def start(self) -> None:
        self._ticker = asyncio.create_task(self._tick_forever(), name="media-routing")

    async def _listen(self) -> None:
        # Keeps trying: a node may start before Redis is reachable (it is unready until then).
        while True:
            try:
                await self._broker.listen_node(self.node_id, self._on_message)
                return
            except RtError as exc:
                log.warning("cannot receive forwarded media requests yet: %s", exc.message)
                await asyncio.sleep(self._heartbeat_s)

    async def close(self) -> None:
        """Close every interview held here, then let them go at once: the next join claims them elsewhere."""
        self._closing = True
        await self.media.close()
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        await self._tasks.close()
        for future in self._pending.values():
            future.cancel()
        with contextlib.suppress(RtError):
            await self._directory.release(self.node_id, sorted(self._held))
        self._held.clear()

    # -- the forwarding side ---------------------------------------------------------------------
    async def handle(self, conn: Connection, req: MediaRequest) -> dict[str, Any] | None:
        room = req.room
        if echo_room_owner(room) is not None:
            # A pre-call echo session is the user's alone: it stays on the node they reached.
            return await self._local[type(req)](conn, req)
        host = self._remote.get(conn, {}).get(room)
        if isinstance(req, MediaJoin) and room not in self.media.rooms:
            host = await self._directory.claim(room, self.node_id)
            if host == self.node_id:
                self._unbind(conn, room)
        if host is None or host == self.node_id:
            return await self._serve_here(conn, req)
        if isinstance(req, MediaJoin):
            await self._forward_join(host, conn, req)  # it sends the host's reply itself
            return None
        reply = await self._forward(host, conn, req)
        if isinstance(req, MediaLeave):
            self._unbind(conn, room)
        return reply

    async def _forward_join(self, host: str, conn: Connection, req: MediaJoin) -> None:
        # Known before the request leaves: the host's first events for this connection may
        # arrive here before its reply does (and would otherwise be dropped as unknown).
        self._conns[conn.id] = conn
        early = self._early.setdefault(conn.id, [])  # shared if the client joins two at once
        self._joins_pending[conn.id] = self._joins_pending.get(conn.id, 0) + 1
        try:
            reply = await self._forward(host, conn, req)
            self._remote.setdefault(conn, {})[req.room] = host
            if reply is not None:
                await conn.send(reply)
        finally:
            pending = self._joins_pending.pop(conn.id) - 1
            if pending:
                self._joins_pending[conn.id] = pending
            else:
                del self._early[conn.id]
                if conn in self._remote:
                    for event in early:
                        conn.write_frame(conn.encode(event))
                else:  # nothing joined (or the connection closed meanwhile)
                    self._conns.pop(conn.id, None)

    async def _serve_here(self, conn: Connection | RemoteConnection, req: MediaRequest) -> dict[str, Any] | None:
        if self._closing:
            raise Unavailable("this node is shutting down; join again", retry_after_ms=500)
        if not isinstance(req, MediaJoin):
            # The handlers are typed for a Connection; a RemoteConnection stands in for one (duck-typed).
            return await self._local[type(req)](conn, req)  # type: ignore[arg-type]
        self._held.add(req.room)
        self._joining[req.room] = self._joining.get(req.room, 0) + 1
        try:
            return await self._local[MediaJoin](conn, req)  # type: ignore[arg-type]  # as above
        finally:
            left = self._joining[req.room] - 1
            if left:
                self._joining[req.room] = left
            else:
                del self._joining[req.room]

    async def _forward(self, host: str, conn: Connection, req: MediaRequest) -> dict[str, Any] | None:
        assert conn.identity is not None
        rid = next(self._rids)
        future: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        identity = conn.identity
        message = {"op": "request", "from": self.node_id, "rid": rid, "conn": conn.id,
                   "user": identity.user_id, "name": identity.name, "role": str(identity.role),
                   "expires_at": identity.expires_at, "request": media_frame(req)}
        started = time.perf_counter()
        try:
            await self._broker.send_to_node(host, message)
            async with asyncio.timeout(self._timeout_s):
                reply = await future
        except TimeoutError:
            self._forwarded.labels("timeout").inc()
            raise Unavailable("the node hosting this interview did not answer; try again",
                              retry_after_ms=1000) from None
        finally:
            self._pending.pop(rid, None)
        self._forward_time.observe(time.perf_counter() - started)
        failed = reply is not None and reply.get("type") == "error"
        self._forwarded.labels("error" if failed else "ok").inc()
        if reply is not None and failed:
            raise RtError(str(reply.get("message", "")), code=ErrorCode(reply["code"]),
                          retry_after_ms=reply.get("retry_after_ms"))
        return reply

    def _unbind(self, conn: Connection, room: str) -> None:
        rooms = self._remote.get(conn)
        if rooms is not None:
            rooms.pop(room, None)
            if not rooms:
                del self._remote[conn]
                self._conns.pop(conn.id, None)

    def connection_closed(self, conn: Connection) -> None:
        self.media.connection_closed(conn)
        rooms = self._remote.pop(conn, None)
        self._conns.pop(conn.id, None)
        for host in set((rooms or {}).values()):
            self._tasks.spawn(self.send_quietly(host, {"op": "closed", "from": self.node_id, "conn": conn.id}))

    async def send_quietly(self, node: str, message: dict[str, Any]) -> None:
        """Best effort: a lost message is made up for by timeouts and the heartbeat checks."""
        try:
            await self._broker.send_to_node(node, message)
        except RtError as exc:
            log.info("could not reach node %s: %s", node, exc.message)

    async def member_removed(self, room_id: str, user_id: str) -> None:
        """``user_id`` is no longer a member of chat room ``room_id``: the node hosting its interview
        re-checks every participant now (the guests the user invited go too). Best effort: the
        hosting node's heartbeat re-checks anyway."""
        del user_id  # the whole interview is re-checked, from the store: nothing to trust in the message
        if room_id in self.media.rooms:
            await self.media.recheck(room_id)
            return
        try:
            host = await self._directory.owner(room_id)
        except RtError as exc:
            log.warning("interview %s: could not have its participants re-checked now: %s", personal(room_id),
                        exc.message)
            return
        if host is not None and host != self.node_id:
            await self.send_quietly(host, {"op": "recheck", "from": self.node_id, "room": room_id})

    # -- messages from other nodes ---------------------------------------------------------------
    def _on_message(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == "reply":
            future = self._pending.get(message["rid"])
            if future is not None and not future.done():
                future.set_result(message.get("reply"))
        elif op == "event":
            conn = self._conns.get(message["conn"])
            early = self._early.get(message["conn"])
            if early is not None:
                early.append(message["event"])
            elif conn is not None:
                event = message["event"]
                conn.write_frame(conn.encode(event))  # in arrival order: no task per event
                if event.get("type") == "media_closed":  # the host let the participant go (shutdown, moved)
                    self._unbind(conn, event.get("room", ""))
        elif op == "request":
            self._tasks.spawn(self._serve_forwarded(message))
        elif op == "recheck":
            self._tasks.spawn(self.media.recheck(str(message["room"])))
        elif op == "closed":
            proxy = self._proxies.pop((message["from"], message["conn"]), None)
            if proxy is not None:
                self._drop_proxy(proxy)
        elif op == "alive":
            now = time.monotonic()
            for conn_id in message["conns"]:
                proxy = self._proxies.get((message["from"], conn_id))
                if proxy is not None:
                    proxy.last_seen = now
        elif (handler := self.node_ops.get(str(op))) is not None:
            handler(message)
        else:
            log.warning("unknown message from another node: %r", op)

    # -- the hosting side ------------------------------------------------------------------------
    async def _serve_forwarded(self, message: dict[str, Any]) -> None:
        origin, conn_id, frame = message["from"], message["conn"], message["request"]
        rid = frame.get("id")
        try:
            req = MEDIA_PARSERS[frame["type"]](rid, frame, None)
            proxy = self._proxies.get((origin, conn_id))
            if proxy is None or proxy.closed:
                if not isinstance(req, MediaJoin):
                    raise RtError(f"join the interview {req.room!r} first (media_join)", code=ErrorCode.NOT_JOINED)
                identity = Identity(user_id=message["user"], role=Role(message["role"]), name=message["name"],
                                    expires_at=message["expires_at"])
                proxy = self._proxies[(origin, conn_id)] = RemoteConnection(self, origin, conn_id, identity)
            if isinstance(req, MediaJoin) and req.room not in self.media.rooms:
                host = await self._directory.claim(req.room, self.node_id)
                if host != self.node_id:  # the interview moved between the forwarder's lookup and now
                    raise Unavailable("the interview is moving to another node; join again", retry_after_ms=500)
            reply = await self._serve_here(proxy, req)
        except RtError as exc:
            reply = events.error_of(exc, rid)
        except Exception:
            log.exception("forwarded media request failed")
            reply = events.error_of(RtError("internal error"), rid)
        await self.send_quietly(origin, {"op": "reply", "rid": message["rid"], "reply": reply})

    def _drop_proxy(self, proxy: RemoteConnection) -> None:
        proxy.closed = True
        self.media.connection_closed(proxy)  # type: ignore[arg-type]  # a RemoteConnection, duck-typed

    # -- the heartbeat ---------------------------------------------------------------------------
    async def _tick_forever(self) -> None:
        await self._listen()
        while True:
            await asyncio.sleep(self._heartbeat_s)
            try:
                await self.tick()
            except RtError as exc:
                log.warning("media routing heartbeat failed: %s", exc.message)
            honour_cancellation()

    async def tick(self) -> None:
        """One round of the liveness checks described at the top of this module."""
        await self._renew_held()
        self._expire_proxies()
        await self._report_alive()
        await self._check_hosts()
        await self.media.recheck_all()  # last: the leases above come first

    async def _renew_held(self) -> None:
        hosted = {room for room in self.media.rooms if echo_room_owner(room) is None}  # echo rooms: never claimed
        gone = {room for room in self._held if room not in hosted and room not in self._joining}
        if gone:
            self._held -= gone
            await self._directory.release(self.node_id, sorted(gone))
        self._held |= hosted
        lost = await self._directory.renew(self.node_id, sorted(hosted))
        for room_id in lost:
            room = self.media.rooms.get(room_id)
            if room is not None:
                log.warning("interview %s is now held by another node: closing it here", personal(room_id))
                self._held.discard(room_id)
                self._tasks.spawn(room.close("moved"))

    def _expire_proxies(self) -> None:
        deadline = time.monotonic() - self._lease_s
        for key, proxy in list(self._proxies.items()):
            if proxy.last_seen < deadline:
                del self._proxies[key]
                log.info("node %s stopped reporting connection %s: treating it as dropped", proxy.origin, proxy.id)
                self._drop_proxy(proxy)

    async def _report_alive(self) -> None:
        by_host: dict[str, list[str]] = {}
        for conn, rooms in self._remote.items():
            for host in set(rooms.values()):
                by_host.setdefault(host, []).append(conn.id)
        for host, conn_ids in by_host.items():
            await self.send_quietly(host, {"op": "alive", "from": self.node_id, "conns": conn_ids})

    async def _check_hosts(self) -> None:
        bound = {(room, host) for rooms in self._remote.values() for room, host in rooms.items()}
        self._host_missing &= bound
        for room, host in bound:
            if await self._directory.owner(room) == host:
                self._host_missing.discard((room, host))
                continue
            if (room, host) not in self._host_missing:
                self._host_missing.add((room, host))
                continue
            self._host_missing.discard((room, host))
            log.warning("interview %s: its node %s is gone", personal(room), host)
            for conn, rooms in list(self._remote.items()):
                if rooms.get(room) == host:
                    self._unbind(conn, room)
                    await conn.send(events.media_closed(room, "host_lost"))
