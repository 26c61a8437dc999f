"""Pre-call check results on SQLite (the embedded default) and on Redis (several nodes).

Each user keeps their last ``keep`` results, newest first; older ones are deleted as new ones
arrive, so a user who runs the check every day cannot grow the store without bound.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ..backends.redis_link import RedisLink
from ..backends.redis_retention import ScanReaper
from ..backends.sqlite_thread import SqliteThread
from ..reaping import FnReaper, Kind, Reaper
from .results import encodable, loaded

__all__ = ["RedisCheckResults", "SqliteCheckResults"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS precall_results (
    user TEXT NOT NULL, ts_ms INTEGER NOT NULL, seq INTEGER PRIMARY KEY AUTOINCREMENT, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS precall_results_by_user ON precall_results (user, seq);
CREATE INDEX IF NOT EXISTS precall_results_by_ts ON precall_results (ts_ms);
"""


def _stored(result: dict[str, Any], ts_ms: int) -> tuple[dict[str, Any], str]:
    """The result as stored, and its JSON (strict: no NaN, see ``results.encodable``)."""
    stored = encodable({**result, "ts": ts_ms})
    return stored, json.dumps(stored, separators=(",", ":"), allow_nan=False)


def _loaded(rows: list[Any]) -> list[dict[str, Any]]:
    return [result for result in map(loaded, rows) if result is not None]


class SqliteCheckResults:
    """In the chat store's SQLite file, on a connection (and thread) of its own, as the workflow's."""

    def __init__(self, path: str, *, keep: int, busy_timeout_ms: int = 5000):
        self._db = SqliteThread(path, schema=SCHEMA, name="pre-call results", busy_timeout_ms=busy_timeout_ms)
        self._keep = keep

    async def open(self) -> None:
        await self._db.open()

    async def close(self) -> None:
        await self._db.close()

    async def save(self, user_id: str, result: dict[str, Any], *, ts_ms: int) -> dict[str, Any]:
        stored, data = _stored(result, ts_ms)

        def write(c: sqlite3.Connection) -> None:
            c.execute("INSERT INTO precall_results (user, ts_ms, data) VALUES (?,?,?)", (user_id, ts_ms, data))
            c.execute("DELETE FROM precall_results WHERE user=? AND seq NOT IN "
                      "(SELECT seq FROM precall_results WHERE user=? ORDER BY seq DESC LIMIT ?)",
                      (user_id, user_id, self._keep))

        await self._db.run(write, write=True)
        return stored

    def reapers(self) -> dict[Kind, Reaper]:
        """Results older than their retention go, whatever ``keep`` allows (retention sweep)."""
        async def delete(cutoff: int, limit: int, cursor: str) -> tuple[int, str | None]:
            n = await self._db.run(lambda c: c.execute(
                "DELETE FROM precall_results WHERE seq IN (SELECT seq FROM precall_results WHERE ts_ms < ? "
                "ORDER BY ts_ms LIMIT ?)", (cutoff, limit)).rowcount, write=True)
            return n, "" if n == limit else None

        async def oldest() -> int | None:
            return (await self._db.run(lambda c: c.execute("SELECT min(ts_ms) FROM precall_results").fetchone()))[0]

        return {Kind.PRECALL_RESULTS: FnReaper(delete, oldest)}

    async def latest(self, user_ids: list[str]) -> dict[str, dict[str, Any]]:
        if not user_ids:
            return {}

        def read(c: sqlite3.Connection) -> dict[str, dict[str, Any]]:
            marks = ",".join("?" * len(user_ids))
            rows = c.execute(f"SELECT user, data FROM precall_results WHERE seq IN "  # placeholders only
                             f"(SELECT max(seq) FROM precall_results WHERE user IN ({marks}) GROUP BY user)",
                             user_ids).fetchall()
            return {user: result for user, data in rows if (result := loaded(data)) is not None}

        return await self._db.run(read)

    async def history(self, user_id: str, *, limit: int) -> list[dict[str, Any]]:
        rows = await self._db.run(lambda c: c.execute(
            "SELECT data FROM precall_results WHERE user=? ORDER BY seq DESC LIMIT ?", (user_id, limit)).fetchall())
        return _loaded([data for (data,) in rows])

    async def erase(self, user_id: str) -> int:
        return await self._db.run(lambda c: c.execute("DELETE FROM precall_results WHERE user=?",
                                                      (user_id,)).rowcount, write=True)


def _key(user_id: str) -> str:
    # One key per user, hash-tagged by user: spread over a cluster's slots like the chat's rooms.
    return f"rt:{{pc:{user_id}}}:checks"




class RedisCheckResults:
    """A capped list per user, through the chat store's link."""

    def __init__(self, link: RedisLink, *, keep: int):
        self._link = link
        self._keep = keep
        self._save = link.register_lua("precall_save")  # atomic on a cluster too
        self._trim = link.register_lua("retention_list")

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def reapers(self) -> dict[Kind, Reaper]:
        """Each user's list loses its results older than their retention (``lua/retention_list.lua``)."""
        async def per_key(key: Any, cutoff: int, limit: int) -> tuple[int, int, bool]:
            n, kept, more = await self._link.call("retention_precall", lambda: self._trim(keys=[key],
                                                                                          args=[cutoff, limit]))
            return int(n), int(kept), bool(more)

        return {Kind.PRECALL_RESULTS: ScanReaper(self._link, match=_key("*"), key_type="list", per_key=per_key)}

    async def save(self, user_id: str, result: dict[str, Any], *, ts_ms: int) -> dict[str, Any]:
        stored, data = _stored(result, ts_ms)

        await self._link.call("precall_save", lambda: self._save(keys=[_key(user_id)], args=[data, self._keep]))
        return stored

    async def latest(self, user_ids: list[str]) -> dict[str, dict[str, Any]]:
        if not user_ids:
            return {}

        async def read() -> list[Any]:
            # One round trip for a whole portfolio (150 rows); a cluster client splits the pipeline
            # by master, as each user's key may live on another.
            async with self._link.client.pipeline(transaction=False) as pipe:
                for user in user_ids:
                    pipe.lindex(_key(user), 0)
                return await pipe.execute()

        found = await self._link.call("precall_latest", read)
        return {u: result for u, v in zip(user_ids, found, strict=True)
                if v is not None and (result := loaded(v)) is not None}

    async def history(self, user_id: str, *, limit: int) -> list[dict[str, Any]]:
        rows = await self._link.call("precall_history", lambda: self._link.client.lrange(_key(user_id), 0, limit - 1))
        return _loaded(rows)

    async def erase(self, user_id: str) -> int:
        async def run() -> list[Any]:
            async with self._link.client.pipeline(transaction=True) as pipe:  # one key: one slot
                pipe.llen(_key(user_id))
                pipe.delete(_key(user_id))
                return await pipe.execute()

        return int((await self._link.call("precall_erase", run))[0])
