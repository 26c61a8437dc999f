"""Retention on Redis (``rtserver/retention``): the claim that lets one node sweep each kind per
interval, and the reaper that walks a family of keys with ``SCAN``.

Redis keeps no index of rooms, users or jobseekers across the keyspace (a room's keys share its
own hash tag so that its scripts run on one shard), so a pass walks the keys of one family
(``rt:{room:*}:log``, ``rt:{pc:*}:checks``...) ``SCAN_COUNT`` at a time and runs one Lua script
per key, which deletes that key's due items atomically and says whether more are due. The
cursor of a pass is the next ``SCAN`` cursor and the keys of the current chunk not done yet (at
most ``SCAN_COUNT`` or so names): a batch that reached its limit goes on with those. ``SCAN``
may return a key twice; the scripts re-check what is due, so nothing is counted twice.

Redis Cluster: ``SCAN`` walks one server; a pass on a cluster walks the keys of the server the
client's default node is (a limit, written in docs/retention.md).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from .redis_link import RedisLink

__all__ = ["SCAN_COUNT", "RedisClaim", "ScanReaper", "claim_key"]

SCAN_COUNT = 200  # keys per SCAN call


def claim_key(kind: str) -> str:
    return f"rt:retention:{kind}"


class RedisClaim:
    """``SET rt:retention:KIND NODE NX PX lease``: the node that sets it sweeps the kind."""

    def __init__(self, link: RedisLink, node_id: str):
        self._link, self._node = link, node_id

    async def claim(self, kind: str, lease_ms: int) -> bool:
        return bool(await self._link.call("retention_claim", lambda: self._link.client.set(
            claim_key(kind), self._node, nx=True, px=lease_ms)))


PerKey = Callable[[Any, int, int], Awaitable[tuple[int, int, bool]]]
"""(key, cutoff_ms, limit) -> (deleted, anchor of the oldest item kept or -1, more due)."""


class ScanReaper:
    """Walk the keys matching ``match`` (of Redis type ``kind``) and run ``per_key`` on each."""

    def __init__(self, link: RedisLink, *, match: str, key_type: str, per_key: PerKey):
        self._link = link
        self._match, self._type, self._per_key = match, key_type, per_key
        self._walk_oldest: int | None = None  # the oldest anchor kept among the keys of this walk
        self._oldest: int | None = None  # of the last walk that ended
        self._in_walk = False

    async def delete_due(self, cutoff_ms: int, limit: int, cursor: str) -> tuple[int, str | None]:
        """``cursor``: JSON ``[scan cursor, keys of the current chunk not done yet]``."""
        if cursor == "":
            self._walk_oldest, self._in_walk = None, True
            cursor = json.dumps([0, None])
        scan, pending = json.loads(cursor)
        if pending is None:
            scan, found = await self._link.call("retention_scan", lambda: self._link.client.scan(
                scan, match=self._match, count=SCAN_COUNT, _type=self._type))
            pending = [key.decode() if isinstance(key, bytes) else key for key in found]
        deleted = 0
        for i, key in enumerate(pending):
            if deleted >= limit:
                return deleted, json.dumps([scan, pending[i:]])  # the rest of this chunk, in the next batch
            n, kept, more = await self._per_key(key, cutoff_ms, limit - deleted)
            deleted += n
            if kept >= 0:
                self._walk_oldest = kept if self._walk_oldest is None else min(self._walk_oldest, kept)
            if more:
                return deleted, json.dumps([scan, pending[i:]])  # this key again
        if int(scan) == 0:
            self._oldest, self._in_walk = self._walk_oldest, False
            return deleted, None
        return deleted, json.dumps([int(scan), None])

    async def oldest_ms(self) -> int | None:
        """The oldest anchor kept in the walk under way (a pass cut short left due items there), or
        else in the last walk that ended."""
        return self._walk_oldest if self._in_walk and self._walk_oldest is not None else self._oldest
