"""Interview outcome summaries on SQLite (the embedded default) and on Redis (several nodes).

A record is what ``rtserver.media.outcome`` summarised plus who and when, and nothing personal
beyond what per-advisor figures need: the record's id, the room id, the advisor's user id (null
when no advisor took part), ``started`` and ``ended`` (ms since the epoch) and the summary's
numbers and words. No names, no free text, no jobseeker id of its own.

Records are written whole and keyed by id: the host node writes a checkpoint of a running
interview now and then and the final record when the room closes, each replacing the last.
Periods select on ``started``: ``[since, until)``. Records whose interview started before the
retention cutoff are removed by ``sweep``, which the retention sweep (``rtserver/retention``) calls
in bounded batches through ``reapers()``.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Protocol, cast

from ..backends.redis_link import RedisLink
from ..backends.sqlite_thread import SqliteThread
from ..media.outcome import OUTCOMES
from ..reaping import FnReaper, Kind, Reaper

__all__ = ["OutcomeStore", "RedisOutcomes", "SqliteOutcomes", "empty_counts"]

SWEEP_BATCH = 1000  # records removed per Redis round trip (a sweep loops until none is left)


def empty_counts() -> dict[str, int]:
    return dict.fromkeys(OUTCOMES, 0)


def _json(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":"), allow_nan=False)


def _loaded(rows: list[Any]) -> list[dict[str, Any]]:
    out = []
    for data in rows:
        if data is None:
            continue
        value = json.loads(data)
        if isinstance(value, dict):
            out.append(value)
    return out


class OutcomeStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def save(self, record: dict[str, Any]) -> None:
        """Store ``record`` (keys ``id``, ``room``, ``advisor``, ``started``, ``ended``, ``outcome``...),
        replacing the one with the same id."""

    async def of_advisor(self, advisor: str, *, since: int, until: int, limit: int) -> list[dict[str, Any]]:
        """The advisor's records that started in ``[since, until)``, newest first, at most ``limit``."""

    async def counts(self, *, since: int, until: int, advisor: str | None = None) -> dict[str, int]:
        """How many records of each outcome started in ``[since, until)`` (of one advisor, or all)."""

    async def sweep(self, before: int, *, limit: int | None = None) -> int:
        """Remove the records that started before ``before`` (at most ``limit``); how many went
        (each counted by the one call that removed it)."""

    async def oldest_started(self) -> int | None:
        """When the oldest record held started (None: none held)."""

    def reapers(self) -> dict[Kind, Reaper]:
        """The records under the retention sweep (``rtserver/retention``)."""
        async def delete(cutoff: int, limit: int, cursor: str) -> tuple[int, str | None]:
            n = await self.sweep(cutoff, limit=limit)
            return n, "" if n == limit else None

        return {Kind.INTERVIEW_OUTCOMES: FnReaper(delete, self.oldest_started)}


SCHEMA = """
CREATE TABLE IF NOT EXISTS interview_outcomes (
    id TEXT PRIMARY KEY, room TEXT NOT NULL, advisor TEXT, started_ms INTEGER NOT NULL,
    ended_ms INTEGER NOT NULL, outcome TEXT NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS interview_outcomes_by_start ON interview_outcomes (started_ms);
CREATE INDEX IF NOT EXISTS interview_outcomes_by_advisor ON interview_outcomes (advisor, started_ms);
"""


class SqliteOutcomes:
    """In the chat store's SQLite file, on a connection (and thread) of its own, as the workflow's."""

    def __init__(self, path: str, *, busy_timeout_ms: int = 5000):
        self._db = SqliteThread(path, schema=SCHEMA, name="interview outcomes", busy_timeout_ms=busy_timeout_ms)

    async def open(self) -> None:
        await self._db.open()

    async def close(self) -> None:
        await self._db.close()

    async def save(self, record: dict[str, Any]) -> None:
        row = (record["id"], record["room"], record.get("advisor"), record["started"], record["ended"],
               record["outcome"], _json(record))
        await self._db.run(lambda c: c.execute(
            "INSERT OR REPLACE INTO interview_outcomes (id, room, advisor, started_ms, ended_ms, outcome, data) "
            "VALUES (?,?,?,?,?,?,?)", row), write=True)

    async def of_advisor(self, advisor: str, *, since: int, until: int, limit: int) -> list[dict[str, Any]]:
        rows = await self._db.run(lambda c: c.execute(
            "SELECT data FROM interview_outcomes WHERE advisor=? AND started_ms>=? AND started_ms<? "
            "ORDER BY started_ms DESC, id DESC LIMIT ?", (advisor, since, until, limit)).fetchall())
        return _loaded([data for (data,) in rows])

    async def counts(self, *, since: int, until: int, advisor: str | None = None) -> dict[str, int]:
        def read(c: sqlite3.Connection) -> list[Any]:
            if advisor is None:
                return c.execute("SELECT outcome, count(*) FROM interview_outcomes WHERE started_ms>=? AND "
                                 "started_ms<? GROUP BY outcome", (since, until)).fetchall()
            return c.execute("SELECT outcome, count(*) FROM interview_outcomes WHERE advisor=? AND started_ms>=? "
                             "AND started_ms<? GROUP BY outcome", (advisor, since, until)).fetchall()

        counts = empty_counts()
        for outcome, n in await self._db.run(read):
            counts[outcome] = counts.get(outcome, 0) + n
        return counts

    async def sweep(self, before: int, *, limit: int | None = None) -> int:
        return await self._db.run(lambda c: c.execute(
            "DELETE FROM interview_outcomes WHERE id IN (SELECT id FROM interview_outcomes WHERE started_ms<? "
            "ORDER BY started_ms LIMIT ?)", (before, -1 if limit is None else limit)).rowcount, write=True)

    async def oldest_started(self) -> int | None:
        return (await self._db.run(lambda c: c.execute("SELECT min(started_ms) FROM interview_outcomes")
                                   .fetchone()))[0]

    reapers = OutcomeStore.reapers


# Keys share the hash tag {io}: one slot, so a record's keys change together on a cluster too.
#   rt:{io}:data          hash  id -> the record (JSON)
#   rt:{io}:meta          hash  id -> "OUTCOME ADVISOR" (what counting and sweeping need)
#   rt:{io}:start         zset  id by started (ms)
#   rt:{io}:adv:ADVISOR   zset  the advisor's ids by started (ms)
def _key(name: str) -> str:
    return f"rt:{{io}}:{name}"




class RedisOutcomes:
    """Through the chat store's link."""

    def __init__(self, link: RedisLink):
        self._link = link
        self._count = link.register_lua("outcomes_count")  # counted where the data is

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def save(self, record: dict[str, Any]) -> None:
        rid, advisor, started = record["id"], record.get("advisor"), record["started"]

        async def write() -> None:
            async with self._link.client.pipeline(transaction=True) as pipe:
                pipe.hset(_key("data"), rid, _json(record))
                pipe.hset(_key("meta"), rid, f"{record['outcome']} {advisor or ''}")
                pipe.zadd(_key("start"), {rid: started})
                if advisor:
                    pipe.zadd(_key(f"adv:{advisor}"), {rid: started})
                await pipe.execute()

        await self._link.call("outcome_save", write)

    async def of_advisor(self, advisor: str, *, since: int, until: int, limit: int) -> list[dict[str, Any]]:
        async def read() -> list[Any]:
            ids = cast(list[bytes], await self._link.client.zrevrangebyscore(  # no withscores: members only
                _key(f"adv:{advisor}"), f"({until}", since, start=0, num=limit))
            return await self._link.client.hmget(_key("data"), ids) if ids else []

        return _loaded(await self._link.call("outcome_list", read))

    async def counts(self, *, since: int, until: int, advisor: str | None = None) -> dict[str, int]:
        ids = _key("start") if advisor is None else _key(f"adv:{advisor}")
        flat = await self._link.call("outcome_counts", lambda: self._count(keys=[ids, _key("meta")],
                                                                            args=[since, until]))
        counts = empty_counts()
        for outcome, n in zip(flat[::2], flat[1::2], strict=True):
            name = outcome.decode() if isinstance(outcome, bytes) else str(outcome)
            counts[name] = counts.get(name, 0) + int(n)
        return counts

    async def oldest_started(self) -> int | None:
        first = await self._link.call("outcome_oldest", lambda: self._link.client.zrange(
            _key("start"), 0, 0, withscores=True))
        return int(first[0][1]) if first else None

    reapers = OutcomeStore.reapers

    async def sweep(self, before: int, *, limit: int | None = None) -> int:
        removed = 0
        while limit is None or removed < limit:
            take = SWEEP_BATCH if limit is None else min(SWEEP_BATCH, limit - removed)

            async def batch(take: int = take) -> int:
                client = self._link.client
                ids = cast(list[bytes], await client.zrangebyscore(  # no withscores: members only
                    _key("start"), "-inf", f"({before}", start=0, num=take))
                if not ids:
                    return 0
                metas = cast(list[bytes | None], await client.hmget(_key("meta"), ids))  # undecoded (redis_link)
                async with client.pipeline(transaction=True) as pipe:
                    pipe.zrem(_key("start"), *ids)  # its count: what this call removed (another node's
                    pipe.hdel(_key("data"), *ids)   # sweep may have taken some of the same ids)
                    pipe.hdel(_key("meta"), *ids)
                    for rid, meta in zip(ids, metas, strict=True):
                        advisor = (meta or b"").decode().partition(" ")[2]
                        if advisor:
                            pipe.zrem(_key(f"adv:{advisor}"), rid)
                    done = await pipe.execute()
                return int(done[0])

            n = await self._link.call("outcome_sweep", batch)
            removed += n
            if n < take:
                return removed
        return removed
