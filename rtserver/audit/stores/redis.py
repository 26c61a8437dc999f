"""The access journal on Redis: one slot ({audit}), a compare-and-set append per stream."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import random
import secrets
import weakref
from collections.abc import AsyncIterator, Sequence
from typing import Any

from ...backends.redis_link import RedisLink
from ...errors import Unavailable
from ..chain import GENESIS, Access, Anchor, Entry, expired_prefix, link
from .base import SUBJECTS_PAGE, SWEEP_BATCH, Cursor, Page, Stream, dump_entry, load_entry, readable_prefix

__all__ = ["RedisAudit"]

MAX_TRIES = 10  # compare-and-set rounds for one append before giving up (unavailable: retry later)
RETRY_WAIT_S = 0.001  # a retry refused because it is another node's turn waits this (~5 of its round trips)
TURN_MS = 1000  # how long a writer that lost a race holds the next append of that stream (if it dies: the wait)
HEAD_CACHE = 10_000  # subjects whose stream head a Redis node remembers (~1.5 MB)

# Every key shares the hash tag {audit}: one slot, so an append updates the stream, its head and
# the indexes in one script on Redis Cluster too. The journal's rate is that of accesses, not of
# messages (an advisor opening a conversation, a portfolio, an interview): about 6 per second
# for 5,000 advisors making 100 accesses a day, which one shard serves many times over.
#   rt:{audit}:n            string  store-wide entry counter
#   rt:{audit}:e            hash    N (16 digits) -> entry (JSON)
#   rt:{audit}:t            zset    N by ts (ms): every entry
#   rt:{audit}:a:ACTOR      zset    N by ts: the actor's entries
#   rt:{audit}:s:SUBJECT    zset    N by ts: the subject's entries
#   rt:{audit}:q:SUBJECT    list    N in seq order: the subject's stream
#   rt:{audit}:m:SUBJECT    hash    first, anchor, head, hash: the stream's head record
#   rt:{audit}:streams      zset    SUBJECT by the time of its oldest kept entry (sweep, verify)
def _escape(identifier: str) -> str:
    return identifier.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")


def _key(name: str) -> str:
    return f"rt:{{audit}}:{name}"


COUNTER, ENTRIES, TIMES, STREAMS = _key("n"), _key("e"), _key("t"), _key("streams")


def _actor(actor: str) -> str:
    return _key(f"a:{_escape(actor)}")


def _subject(subject: str) -> str:
    return _key(f"s:{_escape(subject)}")


def _chain(subject: str) -> str:
    return _key(f"q:{_escape(subject)}")


def _head(subject: str) -> str:
    return _key(f"m:{_escape(subject)}")


# KEYS: n, e, t, streams, then per entry: a:ACTOR, s:SUBJECT, q:SUBJECT, m:SUBJECT.
# ARGV: GENESIS, this writer's id, then per entry: expected head seq, expected head hash, entry JSON,
# its hash, ts, subject. Reply per entry: {1, N} stored, or {0, head seq, head hash, 1 if the next turn
# is this writer's} when the head was not the one expected.
# Turns: a writer that lost a race holds the stream's next append for TURN_MS (others are refused
# meanwhile), so a node recording now and then is not starved by one recording continuously.
APPEND = """
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local out = {}
for i = 0, (#KEYS - 4) / 4 - 1 do
  local k, a = 4 + 4 * i, 2 + 6 * i
  local head = redis.call('HMGET', KEYS[k + 4], 'head', 'hash', 'turn', 'turn_until')
  local seq, hash = tonumber(head[1]) or 0, head[2] or ARGV[1]
  local turn_held = head[3] and tonumber(head[4]) > now
  if (turn_held and head[3] ~= ARGV[2]) or seq ~= tonumber(ARGV[a + 1]) or hash ~= ARGV[a + 2] then
    if seq > 0 and not turn_held then
      redis.call('HSET', KEYS[k + 4], 'turn', ARGV[2], 'turn_until', now + TURN_MS)
      turn_held, head[3] = true, ARGV[2]
    end
    local mine = 0
    if turn_held and head[3] == ARGV[2] then mine = 1 end
    out[#out + 1] = {0, seq, hash, mine}
  else
    local member = string.format('%016d', redis.call('INCR', KEYS[1]))
    local ts = ARGV[a + 5]
    redis.call('HSET', KEYS[2], member, ARGV[a + 3])
    redis.call('ZADD', KEYS[3], ts, member)
    redis.call('ZADD', KEYS[k + 1], ts, member)
    redis.call('ZADD', KEYS[k + 2], ts, member)
    redis.call('RPUSH', KEYS[k + 3], member)
    redis.call('HSET', KEYS[k + 4], 'head', seq + 1, 'hash', ARGV[a + 4])
    if head[3] then redis.call('HDEL', KEYS[k + 4], 'turn', 'turn_until') end
    if seq == 0 then
      redis.call('HSET', KEYS[k + 4], 'first', 1, 'anchor', ARGV[1])
      redis.call('ZADD', KEYS[4], ts, ARGV[a + 6])
    end
    out[#out + 1] = {1, member}
  end
end
return out
""".replace("TURN_MS", str(TURN_MS))

# KEYS: an index (zset N by ts), e. ARGV: since, cursor ts ('' for none), cursor N, limit, actor to
# keep ('' for all), most entries to look at. The page starts after the cursor (or at since):
# its rank is counted, then read by rank, so entries of the same millisecond page exactly.
# Reply: {more (0/1), last ts, last N, then N, data pairs}.
QUERY = """
local idx, limit, budget = KEYS[1], tonumber(ARGV[4]), tonumber(ARGV[6])
local start
if ARGV[2] ~= '' then
  local k = 0
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', idx, ARGV[2], ARGV[2])) do
    if m <= ARGV[3] then k = k + 1 end
  end
  start = redis.call('ZCOUNT', idx, '-inf', '(' .. ARGV[2]) + k
else
  start = redis.call('ZCOUNT', idx, '-inf', '(' .. ARGV[1])
end
local out, found, scanned, last_ts, last_m = {}, 0, 0, '', ''
while found < limit and scanned < budget do
  local got = redis.call('ZRANGE', idx, start + scanned, start + scanned + math.min(limit, budget - scanned) - 1,
                         'WITHSCORES')
  if #got == 0 then break end
  local members = {}
  for i = 1, #got, 2 do members[#members + 1] = got[i] end
  local data = redis.call('HMGET', KEYS[2], unpack(members))
  for i, m in ipairs(members) do
    scanned, last_ts, last_m = scanned + 1, got[2 * i], m
    local d = data[i]
    local keep = d and ARGV[5] == ''
    if d and not keep then
      local ok, value = pcall(cjson.decode, d)
      keep = ok and type(value) == 'table' and value.actor == ARGV[5]
    end
    if keep then
      out[#out + 1] = m
      out[#out + 1] = d
      found = found + 1
      if found == limit then break end
    end
  end
end
local more = 0
if redis.call('ZCARD', idx) > start + scanned then more = 1 end
local reply = {more, last_ts, last_m}
for _, v in ipairs(out) do reply[#reply + 1] = v end
return reply
"""

# KEYS: e, t, q:SUBJECT, s:SUBJECT, m:SUBJECT, streams, then the actors' a:ACTOR keys.
# ARGV: subject, expected first seq, k, new anchor, the k oldest N (as read), then each one's actor key
# index (1-based among the actor keys). Deletes them only if the stream still starts with them (another
# node's sweep got there first: -1). Reply: how many went.
SWEEP = """
local k = tonumber(ARGV[3])
if redis.call('HGET', KEYS[5], 'first') ~= ARGV[2] then return -1 end
local members = redis.call('LRANGE', KEYS[3], 0, k - 1)
for i = 1, k do
  if members[i] ~= ARGV[4 + i] then return -1 end
end
redis.call('LTRIM', KEYS[3], k, -1)
redis.call('HDEL', KEYS[1], unpack(members))
redis.call('ZREM', KEYS[2], unpack(members))
redis.call('ZREM', KEYS[4], unpack(members))
for i = 1, k do
  redis.call('ZREM', KEYS[6 + tonumber(ARGV[4 + k + i])], members[i])
end
local rest = redis.call('LINDEX', KEYS[3], 0)
if rest then
  redis.call('HSET', KEYS[5], 'first', tonumber(ARGV[2]) + k, 'anchor', ARGV[4])
  redis.call('ZADD', KEYS[6], redis.call('ZSCORE', KEYS[2], rest) or ARGV[5 + 2 * k], ARGV[1])
else
  redis.call('DEL', KEYS[5], KEYS[3], KEYS[4])
  redis.call('ZREM', KEYS[6], ARGV[1])
end
return k
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisAudit:
    """Through the chat store's link (or one of its own, for ``rtserver audit verify``)."""

    QUERY_SCAN_FACTOR = 10  # subject and actor both given: entries looked at per page, times the limit

    def __init__(self, link: RedisLink):
        self._link = link
        self._append = link.client.register_script(APPEND)
        self._query = link.client.register_script(QUERY)
        self._sweep = link.client.register_script(SWEEP)
        self._heads: collections.OrderedDict[str, tuple[int, str]] = collections.OrderedDict()
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._writer = secrets.token_hex(8)  # whose turn it is, after a lost race (APPEND)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _remember(self, subject: str, head: tuple[int, str]) -> None:
        self._heads[subject] = head
        self._heads.move_to_end(subject)
        while len(self._heads) > HEAD_CACHE:
            self._heads.popitem(last=False)

    async def append(self, accesses: Sequence[Access]) -> list[Entry]:
        # Appends of this node for the same person wait for each other: only other nodes' can race.
        async with contextlib.AsyncExitStack() as stack:
            for subject in sorted({a.subject for a in accesses}):  # always in this order: no deadlock
                lock = self._locks.get(subject)
                if lock is None:
                    lock = self._locks[subject] = asyncio.Lock()
                await stack.enter_async_context(lock)
            return await self._append_unlocked(accesses)

    async def _append_unlocked(self, accesses: Sequence[Access]) -> list[Entry]:
        done: dict[int, Entry] = {}
        pending = list(range(len(accesses)))
        wait = False
        for _ in range(MAX_TRIES):
            if wait:  # another node holds the turn: it needs one round trip
                await asyncio.sleep(random.uniform(RETRY_WAIT_S / 2, RETRY_WAIT_S))
            heads: dict[str, tuple[int, str]] = {}
            keys, tried = [COUNTER, ENTRIES, TIMES, STREAMS], []
            args: list[str | int] = [GENESIS, self._writer]
            for i in pending:
                access = accesses[i]
                seq, prev = heads.get(access.subject) or self._heads.get(access.subject, (0, GENESIS))
                entry = link(access, seq=seq + 1, prev=prev)
                heads[access.subject] = (entry.seq, entry.hash)  # the next one of this subject in the batch
                keys += [_actor(entry.actor), _subject(entry.subject), _chain(entry.subject), _head(entry.subject)]
                args += [seq, prev, dump_entry(entry), entry.hash, entry.ts_ms, entry.subject]
                tried.append((i, entry))
            replies = await self._link.call("audit_append", functools.partial(self._append, keys=keys, args=args))
            pending, wait = [], False
            for (i, entry), reply in zip(tried, replies, strict=True):
                if int(reply[0]) == 1:
                    done[i] = entry
                    self._remember(entry.subject, (entry.seq, entry.hash))
                else:
                    self._remember(entry.subject, (int(reply[1]), _text(reply[2])))
                    pending.append(i)
                    wait = wait or int(reply[3]) == 0
            if not pending:
                return [done[i] for i in range(len(accesses))]
        raise Unavailable("the access journal is too busy for this person's file: try again", retry_after_ms=200)

    async def query(self, *, subject: str | None, actor: str | None, since: int, after: Cursor | None,
                    limit: int) -> Page:
        if subject is not None:
            index, keep, budget = _subject(subject), actor or "", limit * (self.QUERY_SCAN_FACTOR if actor else 1)
        elif actor is not None:
            index, keep, budget = _actor(actor), "", limit
        else:
            index, keep, budget = TIMES, "", limit
        if after is not None and after < (since, 0):
            after = None
        cursor = ("", "") if after is None else (str(after[0]), f"{after[1]:016d}")
        reply = await self._link.call("audit_query", lambda: self._query(
            keys=[index, ENTRIES], args=[since, cursor[0], cursor[1], limit, keep, budget]))
        more, last_ts, last_n = int(reply[0]), _text(reply[1]), _text(reply[2])
        entries = [e for e in (load_entry(d) for d in reply[4::2]) if isinstance(e, Entry)]
        return Page(entries, (int(float(last_ts)), int(last_n)) if more and last_n else None)

    async def sweep(self, before_ms: int, *, batch: int = SWEEP_BATCH) -> int:
        client = self._link.client
        subjects = [_text(s) for s in await self._link.call("audit_sweep_list", lambda: client.zrangebyscore(
            STREAMS, "-inf", f"({before_ms}", start=0, num=max(1, batch // 10)))]
        deleted = 0
        for subject in subjects:
            if deleted >= batch:
                break
            deleted += max(0, await self._sweep_stream(subject, before_ms, batch - deleted))
        return deleted

    async def _sweep_stream(self, subject: str, before_ms: int, budget: int) -> int:
        client = self._link.client

        async def read() -> tuple[Any, list[Any], list[Any]]:
            head = await client.hmget(_head(subject), "first")
            members = await client.lrange(_chain(subject), 0, budget)
            return head[0], members, (await client.hmget(ENTRIES, members) if members else [])

        first, members, data = await self._link.call("audit_sweep_read", read)
        if first is None:
            await self._link.call("audit_sweep_list", lambda: client.zrem(STREAMS, subject))
            return 0
        entries = readable_prefix([load_entry(d) for d in data])
        gone = min(expired_prefix(entries, before_ms), budget)
        if not gone:
            oldest = entries[0].ts_ms if entries else before_ms  # skewed or unreadable: not picked again too soon
            await self._link.call("audit_sweep_list", lambda: client.zadd(STREAMS, {subject: max(oldest, before_ms)}))
            return 0
        actors = sorted({e.actor for e in entries[:gone]})
        index = {a: i + 1 for i, a in enumerate(actors)}
        keys = [ENTRIES, TIMES, _chain(subject), _subject(subject), _head(subject), STREAMS, *map(_actor, actors)]
        args = [subject, int(first), gone, entries[gone - 1].hash, *members[:gone],
                *(index[e.actor] for e in entries[:gone]), before_ms]
        return int(await self._link.call("audit_sweep", lambda: self._sweep(keys=keys, args=args)))

    async def subjects(self) -> AsyncIterator[list[str]]:
        seen: set[str] = set()
        cursor: Any = 0
        while True:
            cursor, found = await self._link.call("audit_subjects", functools.partial(
                self._link.client.zscan, STREAMS, cursor, count=SUBJECTS_PAGE))
            page = [s for s in (_text(m) for m, _ in found) if s not in seen]
            seen.update(page)
            if page:
                yield page
            if int(cursor) == 0:
                return

    async def streams(self, subjects: Sequence[str]) -> list[Stream]:
        client = self._link.client

        async def read(subject: str) -> Stream:
            head: list[Any] = await client.hmget(_head(subject), "first", "anchor", "head", "hash")  # all or none
            members = await client.lrange(_chain(subject), 0, -1)
            data: list[Any] = []
            for start in range(0, len(members), SWEEP_BATCH):
                data += await client.hmget(ENTRIES, members[start:start + SWEEP_BATCH])
            anchor = None if head[0] is None else Anchor(int(head[0]), _text(head[1]), int(head[2]), _text(head[3]))
            return Stream(subject, anchor, [load_entry(d) for d in data])

        return [await self._link.call("audit_verify", functools.partial(read, s)) for s in subjects]
