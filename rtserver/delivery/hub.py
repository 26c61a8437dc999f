"""This node's live connections: who is connected, who is in which room, and fan-out.

The hub is the ``BrokerHandler``: every event for a room, from this node or another, arrives in
``on_room_event`` and is written to the room's local members. Chat messages carry offsets; the
hub delivers them in offset order, drops the ones already delivered, and fills any gap from the
store, so a lost or reordered broker event never becomes a lost or reordered message.

A member that just joined is "catching up": live events are held in its backlog while its missed
history is replayed, then the backlog is flushed without the offsets the replay already sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from ..backends import Broker, MemberRole, RoomKind, Store
from ..errors import CloseCode
from ..logprivacy import personal
from ..metrics import Metrics
from ..protocol import JSON, build_frame
from ..tasks import BackgroundTasks
from .connection import Connection

__all__ = ["Hub", "LocalRoom", "Membership"]

log = logging.getLogger(__name__)


class Membership:
    __slots__ = ("backlog", "role")

    def __init__(self, role: MemberRole):
        self.role = role
        self.backlog: list[dict[str, Any]] | None = []  # None once caught up


class LocalRoom:
    __slots__ = ("delivered", "held", "id", "kind", "members", "repairing", "subscribed")

    def __init__(self, room_id: str, kind: RoomKind):
        self.id = room_id
        self.kind = kind
        self.members: dict[Connection, Membership] = {}
        self.delivered: int | None = None  # highest message offset fanned out here
        self.repairing = False
        self.held: list[dict[str, Any]] = []  # message events waiting behind a gap repair
        self.subscribed: asyncio.Future[None] | None = None  # done once the broker confirmed the subscription


class Hub:
    def __init__(self, *, store: Store, broker: Broker, metrics: Metrics):
        self._store = store
        self._broker = broker
        self._metrics = metrics
        self.rooms: dict[str, LocalRoom] = {}
        self.users: dict[str, set[Connection]] = {}
        self._tasks = BackgroundTasks("room unsubscription or gap repair", logger=log, level=logging.WARNING)

    # -- connections ----------------------------------------------------------------------
    def add_connection(self, conn: Connection) -> int:
        conns = self.users.setdefault(conn.user_id, set())
        conns.add(conn)
        return len(conns)

    def remove_connection(self, conn: Connection) -> list[tuple[str, RoomKind]]:
        """Forget the connection; return the rooms it was in, with their kinds."""
        rooms = [(room_id, self.rooms[room_id].kind) for room_id in conn.rooms if room_id in self.rooms]
        for room_id, _ in rooms:
            self.detach(conn, room_id)
        conn.rooms.clear()
        if conn.identity is not None:
            conns = self.users.get(conn.user_id)
            if conns is not None:
                conns.discard(conn)
                if not conns:
                    del self.users[conn.user_id]
        return rooms

    def user_connections(self, user_id: str) -> set[Connection]:
        return self.users.get(user_id, set())

    def user_in_room(self, user_id: str, room_id: str) -> bool:
        return any(room_id in c.rooms for c in self.users.get(user_id, ()))

    def all_connections(self) -> list[Connection]:
        return [c for conns in self.users.values() for c in conns]

    # -- room membership on this node -----------------------------------------------------
    async def attach(self, conn: Connection, room_id: str, kind: RoomKind, role: MemberRole) -> Membership:
        """Add the connection to the room, catching up (its live events are held in its backlog)."""
        room = self.rooms.get(room_id)
        if room is None:
            room = self.rooms[room_id] = LocalRoom(room_id, kind)
            self._metrics.rooms_local.inc()
        membership = Membership(role)
        room.members[conn] = membership
        conn.rooms[room_id] = membership
        # Every joiner waits for the subscription, not only the first: a joiner that read the head
        # before the node was subscribed could miss a message published in between.
        pending = room.subscribed
        if pending is None or (pending.done() and pending.exception() is not None):
            pending = room.subscribed = asyncio.get_running_loop().create_future()
            try:
                await self._broker.subscribe(room_id)
            except BaseException as exc:
                pending.set_exception(exc if isinstance(exc, Exception) else RuntimeError("subscribe cancelled"))
                pending.exception()  # retrieved: the joiners that wait re-raise it themselves
                raise
            pending.set_result(None)
        elif not pending.done():
            await asyncio.shield(pending)
        return membership

    def caught_up(self, conn: Connection, room_id: str, head: int, replayed_to: int) -> None:
        """The replay sent messages up to ``replayed_to``; deliver what arrived meanwhile."""
        room = self.rooms.get(room_id)
        membership = conn.rooms.get(room_id)
        if room is None or membership is None:
            return
        if room.delivered is None:
            # First member here: nothing was fanned out yet, so the stream continues after the head
            # it read. (Never move an existing position: members already caught up still need
            # whatever is in flight between it and this head.)
            room.delivered = head
        backlog, membership.backlog = membership.backlog or [], None
        for event in backlog:
            if event["type"] == "message" and event["offset"] <= replayed_to:
                continue
            conn.write_frame(conn.encode(event))

    def detach(self, conn: Connection, room_id: str) -> bool:
        """Remove the connection from the room; True if it was there."""
        membership = conn.rooms.pop(room_id, None)
        room = self.rooms.get(room_id)
        if room is None or membership is None:
            return False
        room.members.pop(conn, None)
        if not room.members:
            del self.rooms[room_id]
            self._metrics.rooms_local.dec()
            self._tasks.spawn(self._broker.unsubscribe(room_id))
        return True

    def evict(self, room_id: str, user_id: str) -> int:
        """Detach the user's connections on this node from the room (removed from its members);
        returns how many were attached."""
        return sum(self.detach(conn, room_id) for conn in list(self.users.get(user_id, ())))

    # -- fan-out ----------------------------------------------------------------------------
    def on_room_event(self, room_id: str, event: dict[str, Any]) -> None:
        room = self.rooms.get(room_id)
        if room is None:
            return
        if event.get("type") != "message":
            self._deliver(room, event)
            if event.get("type") == "member" and event.get("event") == "removed":
                self.evict(room_id, event["user"])  # after delivering: the removed user's tabs hear it
            return
        offset = event["offset"]
        if room.repairing:
            room.held.append(event)
        elif room.delivered is None or offset == room.delivered + 1:
            room.delivered = offset
            self._deliver(room, event)
            self._metrics.fanout_latency.observe(max(0.0, time.time() - event["ts"] / 1000))
        elif offset > room.delivered + 1:
            room.repairing = True
            room.held.append(event)
            self._tasks.spawn(self._repair(room))
        # else: already delivered (a duplicate from the broker): drop it

    def on_room_reset(self, room_id: str) -> None:
        """The backend lost or replaced the room's history: offsets will be reused, so neither this
        hub nor the members' clients may keep their positions. Closing with 1012 makes the clients
        reconnect and rejoin, and learn the new epoch (``reset``) or that the room is gone."""
        room = self.rooms.get(room_id)
        if room is None:
            return
        for conn in list(room.members):
            conn.close_soon(CloseCode.SERVICE_RESTART, "room history changed: reconnect and rejoin")
            self.detach(conn, room_id)

    def _deliver(self, room: LocalRoom, event: dict[str, Any]) -> None:
        json_frame = msgpack_frame = None
        count = 0
        for conn, membership in room.members.items():
            if membership.backlog is not None:
                membership.backlog.append(event)
                continue
            if conn.codec is JSON:
                if json_frame is None:
                    json_frame = build_frame(JSON.encode(event), JSON.opcode)
                conn.write_frame(json_frame)
            else:
                if msgpack_frame is None:
                    msgpack_frame = conn.encode(event)
                conn.write_frame(msgpack_frame)
            count += 1
        if count:
            self._metrics.deliveries.inc(count)

    async def _repair(self, room: LocalRoom) -> None:
        """Fill the gap before the held events from the store, then deliver everything in order."""
        try:
            while room.held:
                room.held.sort(key=lambda e: e["offset"])
                first = room.held[0]["offset"]
                assert room.delivered is not None
                if first > room.delivered + 1:
                    missing = await self._store.read_after(room.id, room.delivered, first - room.delivered - 1)
                    self._metrics.gap_repairs.inc()
                    for message in missing:
                        if message.offset == room.delivered + 1:
                            room.delivered = message.offset
                            self._deliver(room, message.to_event())
                    if room.delivered < first - 1:  # the store does not have them (yet): skip ahead
                        log.warning("room %s: offsets %d..%d missing from the store", personal(room.id),
                                    room.delivered + 1, first - 1)
                        room.delivered = first - 1
                held, room.held = room.held, []
                for event in held:
                    if event["offset"] == room.delivered + 1:
                        room.delivered = event["offset"]
                        self._deliver(room, event)
                    elif event["offset"] > room.delivered + 1:
                        room.held.append(event)
        except Exception:
            log.exception("gap repair failed in room %s", personal(room.id))
            room.held.clear()
        finally:
            room.repairing = False

    async def close(self) -> None:
        await self._tasks.close()
