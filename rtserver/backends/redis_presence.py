"""Presence across nodes: per-connection entries that lapse when their node stops beating.

Each entry (``rt:{user:ID}:conns``: connection -> "STATUS NODE") names the node holding the
connection. Rather than a TTL per entry, which would cost one write per connection per beat,
each node beats once per ``heartbeat_s`` for all its connections (``lua/heartbeat.lua``: its
score in ``rt:nodes`` becomes Redis's clock), and an entry counts only while its node's last
beat is younger than ``ttl_s``. The users of a node that dies (SIGKILL, power loss, network
cut) therefore go offline within ``ttl_s + heartbeat_s`` (24 s by default) on every node.

Announcing it: on each beat a live node also looks for nodes whose beat is older than
``ttl_s``. The first to take the sweep lock of a dead node removes its entries and publishes the
new presence of each of its users to their conversations and groups, as the presence service
does for a normal disconnect. (This repeats ``PresenceService._announce`` because the service
has no hook for changes it did not make itself.)

A node that was cut off from Redis for longer than ``ttl_s`` has been swept by the others;
its next beat finds itself unregistered and writes all its live entries again. Sweeping waits
``ttl_s`` after this node (re)gains Redis, so that nodes coming back from the same outage are
not taken for dead before they had a chance to beat.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import functools
import logging
import time
import uuid
from typing import Any

from ..errors import RtError
from ..protocol import events
from ..protocol.requests import Availability, PresenceStatus
from ..tasks import honour_cancellation
from . import redis_keys as k
from .base import Broker, PresenceInfo, RoomKind, Store
from .local import aggregate
from .redis_link import RedisLink

__all__ = ["RedisPresence"]

log = logging.getLogger(__name__)

SWEEP_LOCK_MS = 30_000
BATCH = 1000  # entries written or removed per pipeline (restoring, sweeping)
MAX_ROOMS_NOTIFIED = 1000


def _str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisPresence:
    def __init__(self, link: RedisLink, *, store: Store, broker: Broker, ttl_s: float, heartbeat_s: float):
        if ttl_s < 3 * heartbeat_s:
            raise ValueError(f"presence_ttl_s ({ttl_s}) must be at least 3 x node_heartbeat_s ({heartbeat_s}): "
                             "a live node would otherwise be taken for dead between two beats")
        self.node_id = uuid.uuid4().hex[:12]
        self._link = link
        self._store = store
        self._broker = broker
        self._ttl_ms = int(ttl_s * 1000)
        self._heartbeat_s = heartbeat_s
        self._local: dict[str, tuple[str, PresenceStatus]] = {}  # connection -> (user, status) on this node
        self._beats: dict[str, int] = {}  # node -> last beat (Redis ms), as of our last beat
        self._clock: tuple[int, float] = (0, 0.0)  # (Redis ms, loop time) at our last beat
        self._sweep_after = 0.0
        self._started = False
        self._start_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None

    # -- the PresenceBackend contract ------------------------------------------------------------
    async def set(self, user_id: str, conn_id: str, status: PresenceStatus) -> None:
        await self._ensure_started()
        self._local[conn_id] = (user_id, status)
        await self._link.call("presence_set", lambda: self._write([(conn_id, user_id, status)]))

    async def remove(self, user_id: str, conn_id: str) -> None:
        self._local.pop(conn_id, None)

        async def run() -> None:
            async with self._link.client.pipeline(transaction=False) as pipe:
                pipe.hdel(k.user_conns(user_id), conn_id)
                pipe.hdel(k.node_conns(self.node_id), conn_id)
                await pipe.execute()

        await self._link.call("presence_remove", run)

    async def set_availability(self, user_id: str, availability: Availability | None) -> None:
        key = k.availability(user_id)
        if availability is None:
            await self._link.call("presence_availability", lambda: self._link.client.delete(key))
        else:
            await self._link.call("presence_availability", lambda: self._link.client.set(key, str(availability)))

    async def nodes_of(self, user_id: str) -> builtins.set[str]:  # (the class has a method named set)
        async def read() -> list[Any]:
            async with self._link.client.pipeline(transaction=False) as pipe:
                pipe.hgetall(k.user_conns(user_id))
                pipe.delete(k.availability(user_id))
                return await pipe.execute()

        entries = (await self._link.call("presence_nodes", read))[0]
        # Connection ids are NODE:N with the node's own id (the one its inbox listens on), not
        # this backend's presence id in the value.
        return {_str(conn).rpartition(":")[0] for conn in entries}

    async def get(self, user_ids: list[str]) -> dict[str, PresenceInfo]:
        await self._ensure_started()
        if not user_ids:
            return {}

        async def read() -> list[Any]:
            async with self._link.client.pipeline(transaction=False) as pipe:
                for user in user_ids:
                    pipe.hgetall(k.user_conns(user))
                    pipe.get(k.availability(user))
                return await pipe.execute()

        flat = await self._link.call("presence_get", read)
        entries = {user: {_str(c): _str(v).split(" ", 1) for c, v in flat[2 * i].items()}
                   for i, user in enumerate(user_ids)}
        nodes = {node for conns in entries.values() for _, node in conns.values()}
        await self._learn_nodes(nodes)
        result: dict[str, PresenceInfo] = {}
        stale: list[tuple[str, str]] = []
        for i, user in enumerate(user_ids):
            statuses = []
            for conn, (status, node) in entries[user].items():
                if self._alive(node):
                    statuses.append(PresenceStatus(status))
                elif node not in self._beats:
                    stale.append((user, conn))  # its node was swept: a leftover
            raw = flat[2 * i + 1]
            result[user] = aggregate(statuses, None if raw is None else Availability(_str(raw)))
        if stale:
            await self._forget(stale)
        return result

    async def close(self) -> None:
        for task in (self._task, self._sweeper):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if not self._started:
            return
        with contextlib.suppress(RtError):  # Redis down: the others sweep this node after ttl_s
            await self._link.call("presence_close", self._deregister)
        self._local.clear()

    # -- writing entries --------------------------------------------------------------------------
    async def _write(self, entries: list[tuple[str, str, PresenceStatus]]) -> None:
        async with self._link.client.pipeline(transaction=False) as pipe:
            for conn_id, user_id, status in entries:
                pipe.hset(k.user_conns(user_id), conn_id, f"{status} {self.node_id}")
                pipe.hset(k.node_conns(self.node_id), conn_id, user_id)
            await pipe.execute()

    async def _forget(self, entries: list[tuple[str, str]]) -> None:
        async def run() -> None:
            async with self._link.client.pipeline(transaction=False) as pipe:
                for user, conn in entries:
                    pipe.hdel(k.user_conns(user), conn)
                await pipe.execute()

        await self._link.call("presence_forget", run)

    async def _deregister(self) -> None:
        async with self._link.client.pipeline(transaction=False) as pipe:
            for conn_id, (user_id, _) in self._local.items():
                pipe.hdel(k.user_conns(user_id), conn_id)
            pipe.delete(k.node_conns(self.node_id))
            pipe.zrem(k.NODES, self.node_id)
            await pipe.execute()

    # -- node liveness --------------------------------------------------------------------------
    def _now_ms(self) -> float:
        server_ms, at = self._clock
        return server_ms + (asyncio.get_running_loop().time() - at) * 1000

    def _alive(self, node: str) -> bool:
        if node == self.node_id:
            return True
        beat = self._beats.get(node)
        return beat is not None and beat >= self._now_ms() - self._ttl_ms

    async def _learn_nodes(self, nodes: builtins.set[str]) -> None:  # builtins: the class has a set()
        """Nodes that started since our last beat are not in ``_beats`` yet: ask for them."""
        unknown = sorted(n for n in nodes if n != self.node_id and n not in self._beats)
        if not unknown:
            return
        scores = await self._link.call("presence_nodes", lambda: self._link.client.zmscore(k.NODES, unknown))
        for node, score in zip(unknown, scores, strict=True):
            if score is not None:
                self._beats[node] = int(score)

    async def _ensure_started(self) -> None:
        if self._started:
            return
        async with self._start_lock:
            if self._started:
                return
            await self._beat()  # raises Unavailable while Redis is down: the caller fails, the next retries
            self._sweep_after = time.monotonic() + self._ttl_ms / 1000
            self._started = True
            self._task = asyncio.create_task(self._beat_forever(), name="redis-presence-heartbeat")

    async def _beat(self) -> None:
        now, added, flat = await self._link.script("heartbeat", [k.NODES], [self.node_id])
        self._clock = (int(now), asyncio.get_running_loop().time())
        self._beats = {_str(flat[i]): int(float(flat[i + 1])) for i in range(0, len(flat), 2)}
        if int(added) and self._local:
            # Swept while cut off, or Redis lost its data: write every live entry again.
            log.warning("presence: node %s was not registered; restoring %d entries", self.node_id, len(self._local))
            entries = [(conn, user, status) for conn, (user, status) in self._local.items()]
            for start in range(0, len(entries), BATCH):
                batch = entries[start:start + BATCH]
                await self._link.call("presence_restore", functools.partial(self._write, batch))

    async def _beat_forever(self) -> None:
        failing = False
        while True:
            honour_cancellation()
            await asyncio.sleep(self._heartbeat_s)
            try:
                await self._beat()
            except RtError as exc:
                if not failing:
                    log.warning("presence heartbeat failed: %s", exc.message)
                failing = True
                continue
            if failing:  # back from an outage: let the other nodes beat before judging them
                failing = False
                self._sweep_after = time.monotonic() + self._ttl_ms / 1000
                continue
            if time.monotonic() >= self._sweep_after and (self._sweeper is None or self._sweeper.done()):
                # In a task of its own: announcing thousands of users must not delay this node's beat.
                self._sweeper = asyncio.create_task(self._sweep_dead(), name="redis-presence-sweep")

    # -- sweeping dead nodes --------------------------------------------------------------------
    async def _sweep_dead(self) -> None:
        cutoff = self._clock[0] - self._ttl_ms
        for node, beat in list(self._beats.items()):
            if node != self.node_id and beat < cutoff:
                try:
                    await self._sweep(node)
                except RtError as exc:
                    log.warning("presence: sweeping node %s failed: %s", node, exc.message)
                except Exception:
                    log.exception("presence: sweeping node %s failed", node)

    async def _sweep(self, node: str) -> None:
        client = self._link.client
        if not await self._link.call("presence_sweep", lambda: client.set(
                k.sweep_lock(node), self.node_id, nx=True, px=SWEEP_LOCK_MS)):
            return  # another live node is on it
        conns = list((await self._link.call("presence_sweep", lambda: client.hgetall(k.node_conns(node)))).items())
        users = sorted({_str(user) for _, user in conns})
        log.info("presence: node %s stopped beating; %d users had connections there", node, len(users))

        async def clean(batch: list[tuple[bytes | str, bytes | str]], last: bool) -> None:
            async with client.pipeline(transaction=False) as pipe:
                for conn, user in batch:
                    pipe.hdel(k.user_conns(_str(user)), conn)
                if last:
                    pipe.delete(k.node_conns(node))
                    pipe.zrem(k.NODES, node)
                await pipe.execute()

        for start in range(0, len(conns), BATCH):
            batch = conns[start:start + BATCH]
            await self._link.call("presence_sweep", functools.partial(clean, batch, False))
        await self._link.call("presence_sweep", lambda: clean([], True))
        self._beats.pop(node, None)
        for user in users:
            await self._announce(user)

    async def _announce(self, user_id: str) -> None:
        info = (await self.get([user_id]))[user_id]
        for summary in await self._store.rooms_of(user_id, limit=MAX_ROOMS_NOTIFIED):
            if summary.kind is RoomKind.BROADCAST:
                continue
            await self._broker.publish(summary.room, events.presence(summary.room, user_id, **info.to_dict()))
