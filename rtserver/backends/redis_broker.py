"""Fan-out between nodes over Redis sharded pub/sub (``SSUBSCRIBE`` / ``SPUBLISH``, Redis 7).

One subscription per room that has members on this node (the hub subscribes when a room gets
its first local member and unsubscribes when it loses its last), never one per connection, on
one connection per Redis server (``ShardSubscriber``); on Redis Cluster a room's channel lives
on the master owning its slot. Events are msgpack maps.

Chat messages are published by the store, inside the append script, once per message and in
offset order (see ``redis_store``); ``publish`` therefore drops ``message`` events and only
sends the others (typing, receipts, presence, member changes), which are best effort.

What it does not do: buffer. While Redis is unreachable nothing is delivered between nodes. On
reconnection each subscriber subscribes every room again by itself, then the broker checks each
room's stream (``lua/check_stream.lua``):

- messages were stored meanwhile: the newest is handed to the hub, whose gap repair reads the
  rest from the store in order (clients that reconnected resume from their offsets anyway);
- the room's history was lost or went back in time: the hub is told (``on_room_reset``), and
  its members there reconnect and rejoin, learning the new epoch (``reset``) or that the room
  is gone; they never silently skip offsets reused by new messages.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import secrets
from typing import Any

import msgpack

from ..errors import RtError
from ..logprivacy import personal
from ..tasks import BackgroundTasks
from . import redis_keys as k
from .base import BrokerHandler, NodeMessageHandler
from .redis_link import RedisLink
from .redis_subscriber import ShardSubscriber

__all__ = ["RedisBroker"]

log = logging.getLogger(__name__)

CHECK_CONCURRENCY = 32  # stream checks in flight after a reconnection
CHECK_ATTEMPTS = 3


@dataclasses.dataclass(slots=True)
class _Stream:
    """What this node last saw of a room's stream."""

    epoch: str | None = None
    last_offset: int = 0
    last_event: bytes | None = None  # the raw entry of last_offset, to notice it was rewritten


class RedisBroker:
    def __init__(self, link: RedisLink, *, ping_interval_s: float):
        self._link = link
        self._ping_interval_s = ping_interval_s
        self._handler: BrokerHandler | None = None
        self._refs: dict[str, int] = {}
        self._streams: dict[str, _Stream] = {}
        self._rooms: dict[bytes, str] = {}  # channel -> room
        self._room_shard: dict[str, ShardSubscriber] = {}
        self._shards: dict[tuple[str, int], ShardSubscriber] = {}
        self._inboxes: dict[bytes, NodeMessageHandler] = {}  # channel -> handler of messages to a node here
        self._subscribing: dict[str, asyncio.Event] = {}  # rooms whose first subscribe is in progress
        self._relocating: set[str] = set()  # shards whose channels are being moved after a failover
        self._tasks = BackgroundTasks("moving a room's subscription", logger=log)

    async def start(self, handler: BrokerHandler) -> None:
        self._handler = handler

    async def close(self) -> None:
        await self._tasks.close()
        await asyncio.gather(*(shard.close() for shard in self._shards.values()), return_exceptions=True)
        self._shards.clear()
        self._handler = None

    # -- subscriptions ------------------------------------------------------------------------
    async def subscribe(self, room_id: str) -> None:
        """Returns once Redis confirmed the subscription: the caller may then read the head and
        be sure every later message reaches it. Raises ``Unavailable`` when Redis is unreachable
        (the subscription stays wanted until ``unsubscribe``, and is made on reconnection)."""
        refs = self._refs.get(room_id, 0) + 1
        self._refs[room_id] = refs
        if refs > 1:  # the hub dropped and re-created the room before its unsubscribe ran
            pending = self._subscribing.get(room_id)
            if pending is not None:
                await pending.wait()
            return
        channel = k.room_channel(room_id).encode()
        self._rooms[channel] = room_id
        self._streams[room_id] = _Stream()
        done = self._subscribing[room_id] = asyncio.Event()
        try:
            shard = await self._shard_for(channel)
            if room_id not in self._refs:
                return  # unsubscribed while locating the shard
            self._room_shard[room_id] = shard
            await shard.add(channel, timeout_s=self._link.timeout_s)
            await self._check(room_id, initial=True)
        finally:
            done.set()
            if self._subscribing.get(room_id) is done:
                del self._subscribing[room_id]

    async def unsubscribe(self, room_id: str) -> None:
        refs = self._refs.get(room_id, 0) - 1
        if refs > 0:
            self._refs[room_id] = refs
            return
        self._refs.pop(room_id, None)
        self._streams.pop(room_id, None)
        channel = k.room_channel(room_id).encode()
        self._rooms.pop(channel, None)
        shard = self._room_shard.pop(room_id, None)
        if shard is not None:
            await shard.remove(channel)

    async def _shard_for(self, channel: bytes) -> ShardSubscriber:
        address = await self._link.shard_address(channel.decode())
        shard = self._shards.get(address)
        if shard is None:
            shard = ShardSubscriber(f"{address[0]}:{address[1]}", self,
                                    connect=lambda: self._link.new_connection(address),
                                    ping_interval_s=self._ping_interval_s)
            self._shards[address] = shard
            shard.start()
        return shard

    # -- messages between nodes --------------------------------------------------------------------
    async def listen_node(self, node_id: str, handler: NodeMessageHandler) -> None:
        channel = k.node_inbox(node_id).encode()
        self._inboxes[channel] = handler
        shard = await self._shard_for(channel)
        await shard.add(channel, timeout_s=self._link.timeout_s)

    async def send_to_node(self, node_id: str, message: dict[str, Any]) -> None:
        channel, data = k.node_inbox(node_id), msgpack.packb(message)
        await self._link.call("send_to_node",
                              lambda: self._link.client.execute_command("SPUBLISH", channel, data))

    def _inbox_message(self, handler: NodeMessageHandler, data: bytes) -> None:
        try:
            handler(msgpack.unpackb(data, raw=False))
        except Exception:  # one bad message must not stop the subscriber
            log.exception("could not handle a message from another node")

    # -- events -----------------------------------------------------------------------------------
    async def publish(self, room_id: str, event: dict[str, Any]) -> None:
        if event.get("type") == "message":
            return  # already published by the append script, in offset order
        channel, data = k.room_channel(room_id), msgpack.packb(event)
        # (execute_command: redis-py 5's cluster client has no spublish method, but routes it by channel)
        await self._link.call("publish", lambda: self._link.client.execute_command("SPUBLISH", channel, data))

    def shard_message(self, channel: bytes, data: bytes) -> None:
        inbox = self._inboxes.get(channel)
        if inbox is not None:
            self._inbox_message(inbox, data)
            return
        room_id = self._rooms.get(channel)
        handler = self._handler
        if room_id is None or handler is None:
            return
        try:
            event = msgpack.unpackb(data, raw=False)
            if event.get("type") == "message":
                stream = self._streams.get(room_id)
                if stream is not None and event["offset"] > stream.last_offset:
                    stream.last_offset = event["offset"]
                    stream.last_event = data
            handler.on_room_event(room_id, event)
        except Exception:  # one bad event must not stop the subscriber
            log.exception("could not deliver an event of room %s", personal(room_id))

    # -- what the subscribers report (ShardOwner) -------------------------------------------------
    def shard_reconnected(self, shard: ShardSubscriber) -> None:
        self._link.metrics.reconnects.labels("subscriber").inc()

    async def shard_resubscribed(self, shard: ShardSubscriber, channels: list[bytes]) -> None:
        rooms = [room for c in channels if (room := self._rooms.get(c)) is not None]
        limit = asyncio.Semaphore(CHECK_CONCURRENCY)

        async def check(room_id: str) -> None:
            async with limit:
                await self._check_with_retry(room_id)

        await asyncio.gather(*(check(room) for room in rooms))

    async def _check_with_retry(self, room_id: str) -> None:
        for attempt in range(CHECK_ATTEMPTS):
            try:
                await self._check(room_id, initial=False)
                return
            except RtError as exc:
                if attempt == CHECK_ATTEMPTS - 1:
                    log.warning("room %s: could not check the stream after reconnecting: %s", personal(room_id),
                                exc.message)
                    return
                await asyncio.sleep(self._ping_interval_s)

    async def _check(self, room_id: str, *, initial: bool) -> None:
        stream = self._streams.get(room_id)
        if stream is None:
            return
        known = "" if initial else (stream.epoch or "")
        fingerprint = hashlib.sha1(stream.last_event).hexdigest() if stream.last_event and not initial else ""
        reply = await self._link.script(
            "check_stream", [k.room_meta(room_id), k.room_log(room_id)],
            [known, 0 if initial else stream.last_offset, fingerprint, secrets.token_hex(8)])
        if self._streams.get(room_id) is not stream:
            return  # unsubscribed meanwhile
        status = reply[0].decode()
        if status == "ok":
            epoch, head, newest = reply[1].decode(), int(reply[2]), reply[3]
            stream.epoch = epoch
            if initial:
                if head > stream.last_offset:
                    stream.last_offset, stream.last_event = head, newest or None
            elif head > stream.last_offset and newest:
                # Missed while away: hand the newest to the hub, which repairs the gap from the store.
                self.shard_message(k.room_channel(room_id).encode(), newest)
            return
        if initial or (status == "gone" and stream.epoch is None):
            return  # nothing known to compare with
        log.warning("room %s: stream %s while Redis was away; its members here must rejoin", personal(room_id), status)
        self._streams[room_id] = _Stream(epoch=reply[1].decode() if len(reply) > 1 else None)
        if self._handler is not None:
            self._handler.on_room_reset(room_id)

    def shard_moved(self, channel: bytes) -> None:
        """Redis Cluster moved the channel's slot: subscribe where it lives now, then check the gap."""
        if channel in self._inboxes:
            self._tasks.spawn(self._inbox_elsewhere(channel))
            return
        room_id = self._rooms.get(channel)
        if room_id is not None:
            self._tasks.spawn(self._resubscribe_elsewhere(room_id, channel))

    def shard_unreachable(self, shard: ShardSubscriber) -> None:
        """A server stays unreachable: on Redis Cluster a replica may have taken over its slots."""
        if self._link.cluster and shard.name not in self._relocating:
            self._relocating.add(shard.name)
            self._tasks.spawn(self._relocate(shard))

    async def _relocate(self, shard: ShardSubscriber) -> None:
        try:
            await self._link.refresh_slots()
            for channel in list(shard.channels):
                room_id = self._rooms.get(channel)
                if room_id is None and channel not in self._inboxes:
                    continue
                host, port = await self._link.shard_address(channel.decode())
                if f"{host}:{port}" != shard.name:
                    where = personal(room_id) if room_id else "node inbox"
                    log.warning("%s: its slot is now served by %s:%s", where, host, port)
                    shard.forget(channel)
                    self._tasks.spawn(self._resubscribe_elsewhere(room_id, channel) if room_id is not None
                                      else self._inbox_elsewhere(channel))
        except RtError as exc:
            log.info("cannot read the cluster's slot map yet: %s", exc.message)
        finally:
            self._relocating.discard(shard.name)

    async def _resubscribe_elsewhere(self, room_id: str, channel: bytes) -> None:
        while self._rooms.get(channel) == room_id:
            try:
                await self._link.refresh_slots()
                shard = await self._shard_for(channel)
                self._room_shard[room_id] = shard
                await shard.add(channel, timeout_s=self._link.timeout_s)
                await self._check_with_retry(room_id)
                return
            except RtError as exc:
                log.warning("room %s: cannot subscribe on its new master yet: %s", personal(room_id), exc.message)
                await asyncio.sleep(self._ping_interval_s)

    async def _inbox_elsewhere(self, channel: bytes) -> None:
        while channel in self._inboxes:
            try:
                await self._link.refresh_slots()
                shard = await self._shard_for(channel)
                await shard.add(channel, timeout_s=self._link.timeout_s)
                return
            except RtError as exc:
                log.warning("cannot subscribe this node's inbox on its new master yet: %s", exc.message)
                await asyncio.sleep(self._ping_interval_s)
