"""The access journal on SQLite: in the chat store's file, on a connection of its own."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Sequence

from ...backends.sqlite_thread import SqliteThread
from ..chain import GENESIS, Access, Anchor, Entry, anchor_after, expired_prefix, link
from .base import SUBJECTS_PAGE, SWEEP_BATCH, Cursor, Page, Stream, dump_entry, load_entry, readable_prefix

__all__ = ["SqliteAudit"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_entries (
    n INTEGER PRIMARY KEY AUTOINCREMENT, subject TEXT NOT NULL, seq INTEGER NOT NULL, ts_ms INTEGER NOT NULL,
    actor TEXT NOT NULL, data TEXT NOT NULL, UNIQUE (subject, seq)
);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit_entries (ts_ms, n);
CREATE INDEX IF NOT EXISTS audit_by_subject ON audit_entries (subject, ts_ms, n);
CREATE INDEX IF NOT EXISTS audit_by_actor ON audit_entries (actor, ts_ms, n);
CREATE TABLE IF NOT EXISTS audit_streams (
    subject TEXT PRIMARY KEY, first_seq INTEGER NOT NULL, anchor TEXT NOT NULL, head_seq INTEGER NOT NULL,
    head_hash TEXT NOT NULL, oldest_ts INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_streams_by_age ON audit_streams (oldest_ts);
"""


class SqliteAudit:
    """In the chat store's SQLite file, on a connection (and thread) of its own."""

    def __init__(self, path: str, *, synchronous: str = "full", busy_timeout_ms: int = 5000):
        if synchronous not in ("full", "normal"):
            raise ValueError("sqlite_synchronous must be full or normal")
        self._db = SqliteThread(path, schema=SCHEMA, name="access journal", busy_timeout_ms=busy_timeout_ms)
        self._synchronous = synchronous

    async def open(self) -> None:
        await self._db.open()
        # As the chat store's (--sqlite-synchronous): full syncs each recorded access to disk before
        # the access is served; normal leaves the last ones to the next checkpoint on a power cut.
        await self._db.run(lambda c: c.execute(f"PRAGMA synchronous={self._synchronous.upper()}"))

    async def close(self) -> None:
        await self._db.close()

    async def append(self, accesses: Sequence[Access]) -> list[Entry]:
        def write(c: sqlite3.Connection) -> list[Entry]:
            out = []
            for access in accesses:
                row = c.execute("SELECT head_seq, head_hash FROM audit_streams WHERE subject=?",
                                (access.subject,)).fetchone()
                seq, prev = row if row is not None else (0, GENESIS)
                entry = link(access, seq=seq + 1, prev=prev)
                c.execute("INSERT INTO audit_entries (subject, seq, ts_ms, actor, data) VALUES (?,?,?,?,?)",
                          (entry.subject, entry.seq, entry.ts_ms, entry.actor, dump_entry(entry)))
                if row is None:
                    c.execute("INSERT INTO audit_streams (subject, first_seq, anchor, head_seq, head_hash, oldest_ts) "
                              "VALUES (?,1,?,?,?,?)", (entry.subject, GENESIS, entry.seq, entry.hash, entry.ts_ms))
                else:
                    c.execute("UPDATE audit_streams SET head_seq=?, head_hash=? WHERE subject=?",
                              (entry.seq, entry.hash, entry.subject))
                out.append(entry)
            return out

        return await self._db.run(write, write=True)

    async def query(self, *, subject: str | None, actor: str | None, since: int, after: Cursor | None,
                    limit: int) -> Page:
        where = ["ts_ms>=?", "(ts_ms, n)>(?, ?)"]
        args: list[int | str] = [since, *max(after or (since, 0), (since, 0))]
        if subject is not None:
            where.append("subject=?")
            args.append(subject)
        if actor is not None:
            where.append("actor=?")
            args.append(actor)
        sql = f"SELECT ts_ms, n, data FROM audit_entries WHERE {' AND '.join(where)} ORDER BY ts_ms, n LIMIT ?"
        rows = await self._db.run(lambda c: c.execute(sql, (*args, limit)).fetchall())
        entries = [e for e in (load_entry(data) for _, _, data in rows) if isinstance(e, Entry)]
        return Page(entries, (rows[-1][0], rows[-1][1]) if len(rows) == limit else None)

    async def sweep(self, before_ms: int, *, batch: int = SWEEP_BATCH) -> int:
        def write(c: sqlite3.Connection) -> int:
            deleted = 0
            streams = c.execute("SELECT subject, first_seq, anchor, head_seq, head_hash FROM audit_streams "
                                "WHERE oldest_ts<? ORDER BY oldest_ts LIMIT ?", (before_ms, batch)).fetchall()
            for subject, first, prev, head, head_hash in streams:
                if deleted >= batch:
                    break
                rows = c.execute("SELECT n, data FROM audit_entries WHERE subject=? AND seq>=? ORDER BY seq LIMIT ?",
                                 (subject, first, batch - deleted + 1)).fetchall()
                entries = readable_prefix([load_entry(data) for _, data in rows])
                gone = min(expired_prefix(entries, before_ms), batch - deleted)
                if not gone:
                    # A first entry stamped later than its stream's age said (clocks apart), or unreadable
                    # (left for verify): not picked again before it can expire.
                    oldest = max(entries[0].ts_ms if entries else before_ms, before_ms)
                    c.execute("UPDATE audit_streams SET oldest_ts=? WHERE subject=?", (oldest, subject))
                    continue
                c.executemany("DELETE FROM audit_entries WHERE n=?", [(n,) for n, _ in rows[:gone]])
                deleted += gone
                anchor = anchor_after(Anchor(first, prev, head, head_hash), entries[:gone])
                nxt = c.execute("SELECT ts_ms FROM audit_entries WHERE subject=? AND seq>=? ORDER BY seq LIMIT 1",
                                (subject, anchor.first)).fetchone()
                if nxt is None:
                    c.execute("DELETE FROM audit_streams WHERE subject=?", (subject,))
                else:
                    c.execute("UPDATE audit_streams SET first_seq=?, anchor=?, oldest_ts=? WHERE subject=?",
                              (anchor.first, anchor.prev, nxt[0], subject))
            return deleted

        return await self._db.run(write, write=True)

    async def subjects(self) -> AsyncIterator[list[str]]:
        after = ""
        while True:
            # run() is awaited before the loop moves on: the lambda reads this turn's after (B023)
            page = [s for (s,) in await self._db.run(lambda c: c.execute(
                "SELECT subject FROM (SELECT subject FROM audit_streams UNION SELECT DISTINCT subject FROM "
                "audit_entries) WHERE subject>? ORDER BY subject LIMIT ?", (after, SUBJECTS_PAGE)).fetchall())]  # noqa: B023
            if not page:
                return
            yield page
            after = page[-1]

    async def streams(self, subjects: Sequence[str]) -> list[Stream]:
        def read(c: sqlite3.Connection) -> list[Stream]:
            out = []
            for subject in subjects:
                row = c.execute("SELECT first_seq, anchor, head_seq, head_hash FROM audit_streams WHERE subject=?",
                                (subject,)).fetchone()
                entries = [load_entry(data) for (data,) in c.execute(
                    "SELECT data FROM audit_entries WHERE subject=? ORDER BY seq", (subject,))]
                out.append(Stream(subject, Anchor(*row) if row is not None else None, entries))
            return out

        return await self._db.run(read)
