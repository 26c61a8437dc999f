"""Chat rooms: join with resume, send, typing, read receipts, history.

Delivery guarantee: store first, then fan out. A message is acknowledged to its sender only
once it is stored with its room offset; members that miss the live event get it again by
resuming from their last offset (``join`` with ``after``), so nothing is lost, and offsets
let both the node and the client drop anything seen twice.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from ..backends import Broker, MemberRole, RoomKind, Store
from ..delivery.connection import Connection
from ..delivery.hub import Hub
from ..errors import BadRequest, ErrorCode, Forbidden, LimitExceeded, RtError
from ..journaling import NO_JOURNAL, AccessKind, Journal
from ..metrics import Metrics
from ..protocol import CallSignal, History, Join, Leave, Read, Send, Typing, events
from .hooks import AfterSend, BeforeSend, ChatHooks
from .presence import PresenceService

__all__ = ["ChatConfig", "ChatService"]

REPLAY_PAGE = 500



@dataclasses.dataclass(frozen=True, slots=True)
class ChatConfig:
    """The chat's section of the settings (``rtserver/sections.py`` builds it)."""

    max_rooms_per_connection: int
    resume_max_messages: int
    typing_ttl_s: float

class ChatService:
    def __init__(self, *, store: Store, broker: Broker, hub: Hub, presence: PresenceService,
                 config: ChatConfig, metrics: Metrics):
        self._store = store
        self._broker = broker
        self._hub = hub
        self._presence = presence
        self._config = config
        self._metrics = metrics
        self._hooks: ChatHooks | None = None
        self._before_send: tuple[BeforeSend, ...] = ()
        self._after_send: tuple[AfterSend, ...] = ()
        self.journal: Journal = NO_JOURNAL  # the node's access journal (rtserver/audit), set at composition

    def use_hooks(self, hooks: ChatHooks) -> None:
        """The features' hooks, gathered once by the composition root before the node starts: checks
        before a send (the workflow's, in follow-up rooms), what follows a stored message, and the
        listeners of a member's removal (the media routing: the user's interview ends too, on the
        node hosting it, which may have no chat member of the room). Not a constructor argument
        because the workflow, whose hook it holds, uses this service's ``remove_member``."""
        if self._hooks is not None:
            raise RuntimeError("the chat's hooks are declared once, at composition")
        self._hooks = hooks
        self._before_send, self._after_send = hooks.before_send, hooks.after_send

    async def join(self, conn: Connection, req: Join) -> None:
        if req.room in conn.rooms:
            raise BadRequest(f"already joined {req.room!r}", code=ErrorCode.CONFLICT)
        if len(conn.rooms) >= self._config.max_rooms_per_connection:
            raise LimitExceeded(f"a connection may join at most {self._config.max_rooms_per_connection} rooms",
                                code=ErrorCode.ROOM_FULL)
        # The membership first, and nothing else until it is found: a room that does not exist
        # and a room of others then cost the same single lookup and get the same answer. Looking
        # the room up first answered a missing room 60-150 us sooner, which told its existence.
        role = await self._store.member_role(req.room, conn.user_id)
        room = None if role is None else await self._store.get_room(req.room)
        if room is None or role is None:
            raise Forbidden(f"room {req.room!r} does not exist or you are not a member")
        await self.journal.room(AccessKind.CONVERSATION_JOIN, conn, room.id, req.id)  # before anything is sent
        first_here = not self._hub.user_in_room(conn.user_id, room.id)
        try:
            await self._hub.attach(conn, room.id, room.kind, role)
            head = await self._store.head(room.id)
            reads = await self._store.read_offsets(room.id)
            described = None
            if room.kind is not RoomKind.BROADCAST:
                members = await self._store.members(room.id)
                presence = await self._presence.snapshot(list(members))
                described = [
                    {"user": u, "role": str(r), "read": reads.get(u, 0), **presence.get(u, {})}
                    for u, r in members.items()]
            start = self._resume_point(req, room.epoch, head)
            # start None: cannot resume across an epoch change: ``reset``, start over from history
            replay_from = head if start is None else start
            trimmed = False
            if replay_from < head:  # resuming: the oldest missed messages may be past their retention
                first = await self._store.first_offset(room.id)
                kept_after = head if first is None else first - 1
                if replay_from < kept_after:
                    replay_from, trimmed = kept_after, True
            replay = min(head - replay_from, self._config.resume_max_messages)
            # Also when retention deleted some of the missed messages: the replay starts at the
            # oldest one kept, and history ends there (docs/retention.md).
            await conn.send(events.joined_reply(
                req.id, room.id, str(room.kind), room.title, str(role), room.epoch, head, reads.get(conn.user_id, 0),
                replay, trimmed or head - replay_from > self._config.resume_max_messages, members=described,
                reset=start is None))
            replayed_to = await self._replay(conn, room.id, replay_from, replay)
            self._hub.caught_up(conn, room.id, head, replayed_to)
        except BaseException:
            self._hub.detach(conn, room.id)
            raise
        if first_here and room.kind is not RoomKind.BROADCAST:
            await self._broker.publish(room.id, self._member_event(conn, room.id, "joined"))

    @staticmethod
    def _resume_point(req: Join, epoch: str, head: int) -> int | None:
        if req.after is None:
            return head  # live only; older messages come from history requests
        if req.epoch is not None and req.epoch != epoch:
            return None
        if req.after > head:
            return None  # the client saw offsets this room never had: its history was lost
        return req.after

    async def _replay(self, conn: Connection, room_id: str, after: int, count: int) -> int:
        sent_to = after
        remaining = count
        while remaining > 0 and not conn.closed:
            page = await self._store.read_after(room_id, sent_to, min(REPLAY_PAGE, remaining))
            if not page:
                break
            for message in page:
                await conn.send(message.to_event())
            sent_to = page[-1].offset
            remaining -= len(page)
        return sent_to

    async def leave(self, conn: Connection, req: Leave) -> dict[str, Any]:
        room = self._hub.rooms.get(req.room)
        if room is None or not self._hub.detach(conn, req.room):
            raise Forbidden(f"not joined to {req.room!r}", code=ErrorCode.NOT_JOINED)
        await self.announce_left(conn, req.room, room.kind)
        return events.ok_reply(req.id)

    async def announce_left(self, conn: Connection, room_id: str, kind: RoomKind) -> None:
        """Tell the room a user left, once their last connection on this node is gone from it."""
        if kind is not RoomKind.BROADCAST and not self._hub.user_in_room(conn.user_id, room_id):
            await self._broker.publish(room_id, self._member_event(conn, room_id, "left"))

    def _membership(self, conn: Connection, room_id: str) -> Any:
        membership = conn.rooms.get(room_id)
        if membership is None:
            raise Forbidden(f"join {room_id!r} first", code=ErrorCode.NOT_JOINED)
        return membership

    def _may_post(self, conn: Connection, room_id: str) -> None:
        membership = self._membership(conn, room_id)
        room = self._hub.rooms.get(room_id)
        if room is not None and room.kind is RoomKind.BROADCAST and membership.role is not MemberRole.HOST:
            raise Forbidden("only hosts post in a broadcast room")

    async def send(self, conn: Connection, req: Send) -> dict[str, Any]:
        for check in self._before_send:  # before the ack latency: a check is not the store's time
            await check(conn, req)
        started = time.perf_counter()
        self._may_post(conn, req.room)
        assert conn.identity is not None
        result = await self._store.append(
            req.room, sender=conn.user_id, name=conn.identity.name, text=req.text, key=req.key,
            ts_ms=int(time.time() * 1000))
        message = result.message
        if not result.duplicate:
            self._metrics.messages_in.inc()
            await self._broker.publish(req.room, message.to_event())
        self._metrics.ack_latency.observe(time.perf_counter() - started)
        ack = events.ack_reply(req.id, req.room, message.offset, message.ts_ms, duplicate=result.duplicate)
        if not result.duplicate:
            # After the acknowledgement is built: digests and reply times never slow a send down.
            for after in self._after_send:
                after(conn, req, message)
        return ack

    async def typing(self, conn: Connection, req: Typing) -> dict[str, Any] | None:
        self._may_post(conn, req.room)
        assert conn.identity is not None
        await self._broker.publish(req.room, events.typing(req.room, conn.user_id, conn.identity.name, req.active,
                                                           int(self._config.typing_ttl_s * 1000)))
        return None if req.id is None else events.ok_reply(req.id)

    async def call_signal(self, conn: Connection, req: CallSignal) -> dict[str, Any] | None:
        """Relay a page's word about the conversation's interview to its members, like typing:
        nothing stored, so a page that was not open when the phone rang does not ring later."""
        self._may_post(conn, req.room)
        assert conn.identity is not None
        devices = None if req.devices is None else req.devices.value
        await self._broker.publish(req.room, events.call(req.room, conn.user_id, conn.identity.name,
                                                         req.signal.value, devices))
        return None if req.id is None else events.ok_reply(req.id)

    async def read(self, conn: Connection, req: Read) -> dict[str, Any]:
        self._membership(conn, req.room)
        offset = await self._store.set_read(req.room, conn.user_id, req.offset)
        room = self._hub.rooms.get(req.room)
        if room is not None and room.kind is not RoomKind.BROADCAST:
            await self._broker.publish(req.room, events.read(req.room, conn.user_id, offset))
        return events.ok_reply(req.id, offset=offset)

    async def history(self, conn: Connection, req: History) -> dict[str, Any]:
        self._membership(conn, req.room)
        await self.journal.room(AccessKind.CONVERSATION_HISTORY, conn, req.room, req.id)
        page = await self._store.read_before(req.room, req.before, req.limit + 1)
        more = len(page) > req.limit
        messages = page[1:] if more else page
        return events.history_reply(req.id, req.room, more, [m.to_event() for m in messages])

    async def rooms(self, conn: Connection, request_id: object) -> dict[str, Any]:
        summaries = await self._store.rooms_of(conn.user_id, limit=self._config.max_rooms_per_connection)
        return events.rooms_reply(request_id, [
            {"room": s.room, "kind": str(s.kind), "title": s.title, "epoch": s.epoch, "head": s.head,
             "read": s.read, "unread": s.unread, "last_ts": s.last_ts} for s in summaries])

    async def remove_member(self, room_id: str, user_id: str) -> bool:
        """Take the user out of the room's members, and every connection of theirs, on every node,
        out of the room: each node's hub evicts them when the ``removed`` event reaches it. The
        listeners hear of it first (media: the user's interview ends), whatever becomes of the event."""
        removed = await self._store.remove_member(room_id, user_id)
        for listener in () if self._hooks is None else self._hooks.member_removed:
            await listener(room_id, user_id)
        try:
            await self._broker.publish(room_id, events.member(room_id, user_id, "removed"))
        except RtError:
            self._hub.evict(room_id, user_id)  # the broker is down: at least this node's connections go
            raise
        return removed

    @staticmethod
    def _member_event(conn: Connection, room_id: str, what: str) -> dict[str, Any]:
        assert conn.identity is not None
        return events.member(room_id, conn.user_id, what, name=conn.identity.name)
