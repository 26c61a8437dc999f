"""One pub/sub connection to one Redis server, holding the ``SSUBSCRIBE`` of every room it serves.

The connection is the subscriber's own (never one of the pool's) and lives as long as the
broker. When it drops, the subscriber reconnects with capped, jittered backoff, subscribes
every wanted channel again by itself, waits for Redis to confirm them, and then calls
``shard_resubscribed`` so the broker can look for what was published while it was away.
A silent connection (no reply to a ``PING`` within one more interval) counts as dropped.

Redis 7 unsubscribes a sharded channel by itself when its slot moves to another master; the
subscriber hands such channels to ``shard_moved`` so the broker can subscribe them where they are now.
A server that stays unreachable (``UNREACHABLE_ATTEMPTS`` failed connections in a row) is
reported to ``shard_unreachable``: on Redis Cluster its slots may have failed over to a replica.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any, Protocol

from redis import exceptions as rexc
from redis.asyncio.connection import AbstractConnection

from ..errors import Unavailable
from ..tasks import BackgroundTasks

__all__ = ["ShardOwner", "ShardSubscriber"]

log = logging.getLogger(__name__)

_NETWORK_ERRORS = (rexc.ConnectionError, rexc.TimeoutError, OSError, TimeoutError)
UNREACHABLE_ATTEMPTS = 3


class ShardOwner(Protocol):
    """What a subscriber reports to the broker that owns it."""

    def shard_message(self, channel: bytes, data: bytes) -> None: ...
    async def shard_resubscribed(self, shard: ShardSubscriber, channels: list[bytes]) -> None: ...
    def shard_reconnected(self, shard: ShardSubscriber) -> None: ...
    def shard_moved(self, channel: bytes) -> None: ...
    def shard_unreachable(self, shard: ShardSubscriber) -> None: ...


class ShardSubscriber:
    def __init__(self, name: str, owner: ShardOwner, *, connect: Callable[[], AbstractConnection],
                 ping_interval_s: float, backoff_s: tuple[float, float] = (0.05, 2.0)):
        self.name = name
        self.channels: set[bytes] = set()  # what should be subscribed
        self._owner = owner
        self._connect = connect
        self._ping_interval_s = ping_interval_s
        self._backoff_s = backoff_s
        self._conn: AbstractConnection | None = None
        self._sent: set[bytes] = set()  # SSUBSCRIBE sent on the current connection
        self._confirmed: set[bytes] = set()  # ... and acknowledged by Redis
        self._unsubscribing: dict[bytes, int] = {}  # our own SUNSUBSCRIBEs not yet acknowledged
        self._waiters: dict[bytes, list[asyncio.Future[None]]] = {}
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._tasks = BackgroundTasks(f"after resubscribing to {name}", logger=log)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"redis-subscriber-{self.name}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._tasks.close()
        await self._drop()

    # -- what the broker asks -----------------------------------------------------------------
    async def add(self, channel: bytes, *, timeout_s: float) -> None:
        """Subscribe and return once Redis confirmed it, so nothing published after is missed."""
        self.channels.add(channel)
        if channel in self._confirmed:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(channel, []).append(waiter)
        try:
            async with asyncio.timeout(timeout_s):
                await self._ready.wait()
                if channel not in self._sent:
                    await self._send("SSUBSCRIBE", channel)
                await waiter
        except (TimeoutError, *_NETWORK_ERRORS) as exc:
            raise Unavailable("room fan-out is not subscribed (Redis unreachable)", retry_after_ms=1000) from exc
        finally:
            waiters = self._waiters.get(channel)
            if waiters is not None and waiter in waiters:
                waiters.remove(waiter)

    async def remove(self, channel: bytes) -> None:
        self.channels.discard(channel)
        self._confirmed.discard(channel)
        if channel in self._sent and self._ready.is_set():
            self._sent.discard(channel)
            self._unsubscribing[channel] = self._unsubscribing.get(channel, 0) + 1
            try:
                await self._send("SUNSUBSCRIBE", channel)
            except _NETWORK_ERRORS:
                pass  # the connection is gone, and the subscription with it

    # -- the connection -------------------------------------------------------------------------
    async def _send(self, *command: Any) -> None:
        conn = self._conn
        if conn is None:
            raise rexc.ConnectionError("not connected")
        if command[0] == "SSUBSCRIBE":
            self._sent.add(command[1])
        await conn.send_command(*command, check_health=False)

    async def _run(self) -> None:
        delay = self._backoff_s[0]
        connected_before = False
        failures = 0
        while True:
            try:
                await self._open()
                if connected_before:
                    self._owner.shard_reconnected(self)
                connected_before = True
                delay, failures = self._backoff_s[0], 0
                await self._read()
            except asyncio.CancelledError:
                raise
            except _NETWORK_ERRORS as exc:
                if self._ready.is_set():
                    log.warning("pub/sub connection to %s lost: %s", self.name, exc)
                else:
                    failures += 1
                    if failures >= UNREACHABLE_ATTEMPTS and self.channels:
                        self._owner.shard_unreachable(self)
            except Exception:
                log.exception("pub/sub reader for %s failed", self.name)
            await self._drop()
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(self._backoff_s[1], delay * 2)

    def forget(self, channel: bytes) -> None:
        """Stop wanting ``channel`` here without telling Redis (this server is unreachable)."""
        self.channels.discard(channel)
        self._confirmed.discard(channel)
        self._sent.discard(channel)

    async def _open(self) -> None:
        conn = self._connect()
        self._conn = conn
        await conn.connect()
        self._sent.clear()
        self._confirmed.clear()
        self._unsubscribing.clear()
        resubscribing = sorted(self.channels)
        while pending := self.channels - self._sent:
            for channel in sorted(pending):
                await self._send("SSUBSCRIBE", channel)
        self._ready.set()
        if resubscribing:
            self._tasks.spawn(self._after_resubscribe(resubscribing))

    async def _after_resubscribe(self, channels: list[bytes]) -> None:
        """Once Redis confirmed the subscriptions, anything published later arrives: check the gap."""
        waiting: list[tuple[bytes, asyncio.Future[None]]] = []
        for channel in channels:
            if channel in self.channels and channel not in self._confirmed:
                waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self._waiters.setdefault(channel, []).append(waiter)
                waiting.append((channel, waiter))
        if waiting:
            await asyncio.wait([w for _, w in waiting], timeout=self._ping_interval_s * 2)
            for channel, waiter in waiting:
                if not waiter.done() and waiter in self._waiters.get(channel, []):
                    self._waiters[channel].remove(waiter)
        await self._owner.shard_resubscribed(self, [c for c in channels if c in self._confirmed])

    async def _read(self) -> None:
        conn = self._conn
        assert conn is not None
        awaiting_pong = False
        while True:
            reply = await conn.read_response(timeout=self._ping_interval_s)
            if reply is None:  # quiet for a whole interval: is Redis still there?
                if awaiting_pong:
                    raise rexc.TimeoutError(f"no answer to PING from {self.name}")
                await conn.send_command("PING", check_health=False)
                awaiting_pong = True
                continue
            awaiting_pong = False
            if not isinstance(reply, list) or not reply:
                continue
            kind = reply[0]
            if kind == b"smessage":
                self._owner.shard_message(reply[1], reply[2])
            elif kind == b"ssubscribe":
                self._confirm(reply[1])
            elif kind == b"sunsubscribe":
                self._unsubscribed(reply[1])

    def _confirm(self, channel: bytes) -> None:
        if channel not in self.channels:
            return
        self._confirmed.add(channel)
        for waiter in self._waiters.pop(channel, []):
            if not waiter.done():
                waiter.set_result(None)

    def _unsubscribed(self, channel: bytes) -> None:
        pending = self._unsubscribing.get(channel, 0)
        if pending:
            if pending == 1:
                del self._unsubscribing[channel]
            else:
                self._unsubscribing[channel] = pending - 1
            return
        # Redis dropped it by itself: the slot moved to another master.
        self._sent.discard(channel)
        self._confirmed.discard(channel)
        if channel in self.channels:
            self.channels.discard(channel)
            self._owner.shard_moved(channel)

    async def _drop(self) -> None:
        self._ready.clear()
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.disconnect()
            except Exception:  # already broken: nothing more to release
                pass
