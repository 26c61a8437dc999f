"""Which node holds each media room, in Redis: one key per room with a lease.

A node claims a room when the first participant of an interview reaches it and renews the
lease of every room it holds once per ``node_heartbeat_s``. A node that dies stops renewing:
its rooms become free after ``lease_s``, and the next ``media_join`` claims them elsewhere.
A node that stops cleanly releases its rooms at once.
"""

from __future__ import annotations

import asyncio

from . import redis_keys as k
from .redis_link import RedisLink

__all__ = ["RedisMediaDirectory"]

RENEW_CONCURRENCY = 32  # keys of different rooms may live on different cluster masters: one script each


def _text(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


class RedisMediaDirectory:
    def __init__(self, link: RedisLink, *, lease_s: float):
        self._link = link
        self._lease_ms = max(1, int(lease_s * 1000))

    async def claim(self, room_id: str, node_id: str) -> str:
        owner = await self._link.script("media_claim", [k.media_owner(room_id)], [node_id, self._lease_ms])
        return _text(owner) or node_id

    async def owner(self, room_id: str) -> str | None:
        return _text(await self._link.call("media_owner", lambda: self._link.client.get(k.media_owner(room_id))))

    async def renew(self, node_id: str, room_ids: list[str]) -> list[str]:
        held = await self._each(node_id, room_ids, self._lease_ms)
        return [room for room, ours in zip(room_ids, held, strict=True) if not ours]

    async def release(self, node_id: str, room_ids: list[str]) -> None:
        await self._each(node_id, room_ids, 0)

    async def _each(self, node_id: str, room_ids: list[str], lease_ms: int) -> list[bool]:
        limit = asyncio.Semaphore(RENEW_CONCURRENCY)

        async def one(room_id: str) -> bool:
            async with limit:
                return bool(await self._link.script("media_renew", [k.media_owner(room_id)], [node_id, lease_ms]))

        return list(await asyncio.gather(*(one(room) for room in room_ids)))
