"""The Store on Redis: shared by every node, Redis being the system of record.

Why a stream per room: entries carry explicit ids ``OFFSET-0``, so reading "after offset N" is
one ``XRANGE (N+1)-0 +`` and "before N" one ``XREVRANGE``, both O(log n + page), and retention is
``XADD MAXLEN ~`` (whole stream nodes dropped at once, cheap). The entry is the message event
itself, msgpack-encoded once by the append script, and published as the same bytes.

Ordering and atomicity: ``lua/append.lua`` does the idempotency check, takes the next offset,
writes the entry, moves the sender's read receipt and publishes the event on the room's
sharded channel, as one script. The store therefore publishes every new message itself, in
offset order; ``RedisBroker.publish`` drops ``message`` events for that reason. All of a room's
keys share the hash tag ``{room:ID}`` so the script runs on Redis Cluster too.

Epochs: a room's epoch is chosen when its meta hash is created. Redis that lost its data has no
meta, so the room is unknown (joins are refused) until the portal creates it again, with a new
epoch: clients that resume with the old epoch are answered ``reset``. History that went back in
time without vanishing (a crash losing the last second of an ``everysec`` append-only file) is
caught by the broker's check on resubscription (``lua/check_stream.lua``), which installs a new
epoch.

Rooms per user: ``rt:{user:ID}:rooms`` is an index written before the members hash and cleaned
after it, so it may name a room the user is no longer in, never miss one; ``rooms_of`` keeps only
the rooms whose members hash names the user. (In a cluster the two live on different slots and
cannot change in one script.)
"""

from __future__ import annotations

import functools
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any, cast

import msgpack

from ..errors import ErrorCode, Forbidden, LimitExceeded, RtError, Unavailable
from ..reaping import Kind, Reaper
from . import redis_keys as k
from .base import AppendResult, MemberRole, Room, RoomKind, RoomSummary, StoredMessage
from .erasure import ERASED_SENDER, SCRUBBED, TOMBSTONE_TEXT
from .redis_link import RedisLink
from .redis_retention import ScanReaper

__all__ = ["RedisStore", "decode_message"]

ROOMS_OF_BATCH = 200  # rooms looked up per pipeline in rooms_of
# Entries copied per script of an erasure's rewrite: 1,000 took about 9 ms of the room's shard
# each (chat appends on that shard waited up to 19 ms behind them: docs/privacy.md); 250 keeps
# one script to a few ms, as the retention sweep's batches.
ERASE_ENTRIES = 250
ERASE_RESTARTS = 5  # another rewrite of the same room finishing meanwhile: start again, this many times


def decode_message(blob: bytes) -> StoredMessage:
    """A stored entry (the message event, msgpack) as a ``StoredMessage``."""
    e = msgpack.unpackb(blob, raw=False)
    return StoredMessage(e["room"], e["offset"], e["ts"], e["from"], e["name"], e["text"], e.get("key"),
                         e.get("data"))


# A room log's entries as XRANGE returns them: (id, fields), in bytes (the client does not decode
# replies, redis_link); redis-py types them as optional str-or-bytes.
_LogEntries = list[tuple[bytes, dict[bytes, bytes]]]


def _str(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _pairs(members: Mapping[str, MemberRole]) -> list[str]:
    return [item for user, role in members.items() for item in (user, str(role))]


class RedisStore:
    def __init__(self, link: RedisLink, *, retention_messages: int, idempotency_ttl_s: float):
        self._link = link
        self._retention = max(0, retention_messages)
        self._idempotency_ttl_ms = max(1000, int(idempotency_ttl_s * 1000))
        self._trim = link.register_lua("retention_stream")
        self._erase = link.register_lua("erase_stream")

    @property
    def link(self) -> RedisLink:
        """The shared client, for other Redis-backed stores of the node (the follow-up workflow)."""
        return self._link

    async def open(self) -> None:
        """Nothing to prepare: the client connects on first use, and a Redis that is down at start
        makes ``/readyz`` fail instead of the node."""

    async def close(self) -> None:
        await self._link.close()

    async def ping(self) -> None:
        await self._link.call("ping", self._link.client.ping)

    # -- rooms and members -----------------------------------------------------------------
    async def create_room(self, room_id: str, kind: RoomKind, title: str, members: Mapping[str, MemberRole],
                          *, max_members: int) -> Room:
        await self._index(members, room_id)
        reply = await self._link.script(
            "create_room", [k.room_meta(room_id), k.room_members(room_id), k.room_log(room_id), k.room_reads(room_id)],
            [str(kind), title, secrets.token_hex(8), _now_ms(), max_members, *_pairs(members)])
        status = _str(reply[0])
        if status == "conflict":
            raise RtError(f"room {room_id!r} exists as a {_str(reply[1])}", code=ErrorCode.CONFLICT)
        if status == "full":
            raise _room_full(reply[1], max_members)
        return Room(room_id, RoomKind(_str(reply[1])), _str(reply[2]), _str(reply[3]), int(reply[4]))

    async def _index(self, members: Mapping[str, MemberRole], room_id: str) -> None:
        if not members:
            return

        async def run() -> None:
            async with self._link.client.pipeline(transaction=False) as pipe:
                for user in members:
                    pipe.sadd(k.user_rooms(user), room_id)
                await pipe.execute()

        await self._link.call("index_rooms", run)

    async def get_room(self, room_id: str) -> Room | None:
        kind, epoch, title, created = cast(list[Any], await self._link.call(  # create_room writes all four, or none
            "get_room", lambda: self._link.client.hmget(k.room_meta(room_id), ["kind", "epoch", "title",
                                                                                  "created_ms"])))
        if kind is None:
            return None
        return Room(room_id, RoomKind(_str(kind)), _str(epoch), _str(title), int(created))

    async def add_members(self, room_id: str, members: Mapping[str, MemberRole], *, max_members: int) -> None:
        await self._index(members, room_id)
        reply = await self._link.script("add_members", [k.room_meta(room_id), k.room_members(room_id)],
                                        [max_members, *_pairs(members)])
        status = _str(reply[0])
        if status == "missing":
            raise Forbidden(f"no room {room_id!r}", code=ErrorCode.ROOM_NOT_FOUND)
        if status == "full":
            raise _room_full(reply[1], max_members)

    async def remove_member(self, room_id: str, user_id: str) -> bool:
        removed = await self._link.call("remove_member",
                                        lambda: self._link.client.hdel(k.room_members(room_id), user_id))
        await self._link.call("index_rooms", lambda: self._link.client.srem(k.user_rooms(user_id), room_id))
        return bool(removed)

    async def member_role(self, room_id: str, user_id: str) -> MemberRole | None:
        role = await self._link.call("member_role",
                                     lambda: self._link.client.hget(k.room_members(room_id), user_id))
        return None if role is None else MemberRole(_str(role))

    async def members(self, room_id: str) -> dict[str, MemberRole]:
        found = await self._link.call("members", lambda: self._link.client.hgetall(k.room_members(room_id)))
        return {_str(user): MemberRole(_str(role)) for user, role in found.items()}

    async def rooms_of(self, user_id: str, *, limit: int) -> list[RoomSummary]:
        candidates = sorted(_str(r) for r in await self._link.call(
            "rooms_of", lambda: self._link.client.smembers(k.user_rooms(user_id))))
        summaries: list[RoomSummary] = []
        for start in range(0, len(candidates), ROOMS_OF_BATCH):
            batch = candidates[start:start + ROOMS_OF_BATCH]
            rows = await self._link.call("rooms_of", functools.partial(self._summaries, batch, user_id))
            for room_id, (meta, role, read) in zip(batch, rows, strict=True):
                if meta[0] is None or role is None:
                    continue  # a room lost with Redis's data, or a stale index entry
                summaries.append(RoomSummary(room_id, RoomKind(_str(meta[0])), _str(meta[1]), _str(meta[2]),
                                             int(meta[3]), int(read or 0), None if meta[4] is None else int(meta[4])))
                if len(summaries) == limit:
                    return summaries
        return summaries

    async def _summaries(self, rooms: list[str], user_id: str) -> list[tuple[Any, Any, Any]]:
        async with self._link.client.pipeline(transaction=False) as pipe:
            for room_id in rooms:
                pipe.hmget(k.room_meta(room_id), ["kind", "title", "epoch", "head", "last_ts"])
                pipe.hget(k.room_members(room_id), user_id)
                pipe.hget(k.room_reads(room_id), user_id)
            flat = await pipe.execute()
        return [(flat[i], flat[i + 1], flat[i + 2]) for i in range(0, len(flat), 3)]

    # -- messages ----------------------------------------------------------------------------
    async def append(self, room_id: str, *, sender: str, name: str, text: str, key: str | None,
                     ts_ms: int, data: dict[str, Any] | None = None) -> AppendResult:
        reply = await self._link.script(
            "append",
            [k.room_meta(room_id), k.room_log(room_id), k.room_reads(room_id),
             k.idempotency(room_id, sender, key or "")],
            [room_id, sender, name, text, "0" if key is None else "1", key or "", ts_ms, self._retention,
             self._idempotency_ttl_ms, k.room_channel(room_id), "" if not data else json.dumps(data)])
        status = _str(reply[0])
        if status == "missing":
            raise Forbidden(f"no room {room_id!r}", code=ErrorCode.ROOM_NOT_FOUND)
        if status == "dup":
            if reply[2]:
                return AppendResult(decode_message(reply[2]), duplicate=True)
            # The original aged out of the retained history: its offset is all that is left.
            return AppendResult(StoredMessage(room_id, int(reply[1]), ts_ms, sender, name, text, key, data),
                                duplicate=True)
        return AppendResult(StoredMessage(room_id, int(reply[1]), ts_ms, sender, name, text, key, data),
                            duplicate=False)

    async def read_after(self, room_id: str, offset: int, limit: int) -> list[StoredMessage]:
        if limit <= 0:
            return []
        entries = cast(_LogEntries, await self._link.call("read_after", lambda: self._link.client.xrange(
            k.room_log(room_id), f"{max(0, offset) + 1}-0", "+", count=limit)))
        return [decode_message(fields[b"e"]) for _, fields in entries]

    async def read_before(self, room_id: str, offset: int | None, limit: int) -> list[StoredMessage]:
        if limit <= 0 or (offset is not None and offset <= 1):
            return []
        end = "+" if offset is None else f"{offset - 1}-0"
        entries = cast(_LogEntries, await self._link.call("read_before", lambda: self._link.client.xrevrange(
            k.room_log(room_id), end, "-", count=limit)))
        return [decode_message(fields[b"e"]) for _, fields in reversed(entries)]

    async def first_offset(self, room_id: str) -> int | None:
        entries = cast(_LogEntries, await self._link.call("first_offset", lambda: self._link.client.xrange(
            k.room_log(room_id), "-", "+", count=1)))
        return int(entries[0][0].split(b"-")[0]) if entries else None

    async def head(self, room_id: str) -> int:
        head = await self._link.call("head", lambda: self._link.client.hget(k.room_meta(room_id), "head"))
        return 0 if head is None else int(head)

    async def set_read(self, room_id: str, user_id: str, offset: int) -> int:
        reply = await self._link.script("set_read", [k.room_meta(room_id), k.room_reads(room_id)],
                                        [user_id, offset])
        if _str(reply[0]) == "missing":
            raise Forbidden(f"no room {room_id!r}", code=ErrorCode.ROOM_NOT_FOUND)
        return int(reply[1])

    async def read_offsets(self, room_id: str) -> dict[str, int]:
        found = await self._link.call("read_offsets", lambda: self._link.client.hgetall(k.room_reads(room_id)))
        return {_str(user): int(offset) for user, offset in found.items()}

    # -- retention (rtserver/retention) -------------------------------------------------------
    def reapers(self) -> dict[Kind, Reaper]:
        """Messages: each room's stream trimmed by id (``lua/retention_stream.lua``). Idempotency
        keys need no sweep: each is written with its retention as TTL."""
        return {Kind.MESSAGES: ScanReaper(self._link, match=k.room_log("*"), key_type="stream",
                                          per_key=self._trim_stream)}

    async def _trim_stream(self, key: Any, cutoff_ms: int, limit: int) -> tuple[int, int, bool]:
        n, kept, more = await self._link.call("retention_stream", lambda: self._trim(keys=[key],
                                                                                      args=[cutoff_ms, limit]))
        return int(n), int(kept), bool(more)

    # -- a person's erasure (backends/erasure.py, lua/erase_stream.lua) --------------------------
    async def erase_sender(self, room_id: str, user_id: str, *, scrub: Sequence[str] = ()) -> int:
        """Rewrite the room's stream with the user's messages as tombstones and the notices quoting
        ``scrub`` scrubbed, ``ERASE_ENTRIES`` at a time; how many changed. Also drops the user's
        idempotency keys and read position in the room."""
        keys = [k.room_meta(room_id), k.room_log(room_id), k.room_erasing(room_id, user_id)]
        for _ in range(ERASE_RESTARTS):
            after, generation, changed, done = 0, "", 0, False
            while not done:
                args = [after, ERASE_ENTRIES, user_id, TOMBSTONE_TEXT, SCRUBBED, ERASED_SENDER, generation,
                        1 if changed else 0, *scrub]
                reply = await self._link.call("erase_stream", functools.partial(self._erase, keys=keys, args=args))
                status = _str(reply[0])
                if status == "restart":
                    break
                changed += int(reply[1])
                after, generation, done = int(reply[2]), str(int(reply[3])), status == "done"
                if idem := [k.idempotency(room_id, user_id, _str(key)) for key in reply[4:]]:
                    await self._link.call("erase_keys", functools.partial(self._link.client.delete, *idem))
            if done:
                await self._link.call("erase_read", lambda: self._link.client.hdel(k.room_reads(room_id), user_id))
                return changed
        raise Unavailable(f"room {room_id!r} kept being rewritten by other erasures: try again", retry_after_ms=1000)


def _room_full(count: Any, max_members: int) -> LimitExceeded:
    return LimitExceeded(f"room would have {int(count)} members; the limit is {max_members}", code=ErrorCode.ROOM_FULL)


def _now_ms() -> int:
    return int(time.time() * 1000)
