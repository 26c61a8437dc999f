"""The embedded default store: one SQLite file, WAL mode, group commit.

Writes from every connection are queued and applied by one writer thread in a single
transaction per batch (group commit): with ``synchronous=FULL`` each batch costs one fsync
however many messages it holds, so throughput grows with load while every acknowledged write
is on disk. Within a batch, messages, read receipts and room heads are collected and written
with one ``executemany`` each, so the per-message cost is a few dictionary operations.
Reads run on a second thread with their own connection (WAL lets them proceed while the writer
commits). WAL checkpoints run on a third connection, never in the writer's commit, so copying
the log into the database file does not stall acknowledgements. Offsets are assigned inside the
writer's transaction, so a failed batch leaves no gap: the in-memory heads are reloaded.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import secrets
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import ErrorCode, Forbidden, LimitExceeded, RtError, Unavailable
from ..reaping import FnReaper, Kind, Reaper
from . import sqlite_retention as retention
from .base import AppendResult, MemberRole, Room, RoomKind, RoomSummary, StoredMessage
from .erasure import NOTICE_SENDER, erased_message
from .sqlite_thread import connect_private

__all__ = ["SqliteStore"]

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS rooms (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, epoch TEXT NOT NULL, title TEXT NOT NULL,
    created_ms INTEGER NOT NULL, head INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS members (
    room TEXT NOT NULL, user TEXT NOT NULL, role TEXT NOT NULL, PRIMARY KEY (room, user)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS members_by_user ON members (user, room);
CREATE TABLE IF NOT EXISTS messages (
    room TEXT NOT NULL, offset INTEGER NOT NULL, ts_ms INTEGER NOT NULL, sender TEXT NOT NULL,
    name TEXT NOT NULL, text TEXT NOT NULL, key TEXT, data TEXT, PRIMARY KEY (room, offset)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_key ON messages (room, sender, key) WHERE key IS NOT NULL;
CREATE TABLE IF NOT EXISTS reads (
    room TEXT NOT NULL, user TEXT NOT NULL, offset INTEGER NOT NULL, PRIMARY KEY (room, user)
) WITHOUT ROWID;
"""

ERASE_ROWS = 500  # offsets of a room looked at per write op of an erasure (measured in docs/privacy.md)
MAX_BATCH = 2000  # writes per transaction: bounds one commit's latency under a burst
CHECKPOINT_INTERVAL_S = 1.0


class _Batch:
    """Rows collected by one transaction's operations, written together before COMMIT."""

    __slots__ = ("keys", "messages", "reads", "rooms")

    def __init__(self) -> None:
        self.messages: list[tuple[Any, ...]] = []
        self.keys: dict[tuple[str, str, str], StoredMessage] = {}
        self.reads: dict[tuple[str, str], int] = {}
        self.rooms: set[str] = set()

    def flush(self, conn: sqlite3.Connection, heads: dict[str, int]) -> None:
        if self.messages:
            conn.executemany("INSERT INTO messages (room, offset, ts_ms, sender, name, text, key, data) "
                             "VALUES (?,?,?,?,?,?,?,?)", self.messages)
        if self.reads:
            conn.executemany("INSERT INTO reads (room, user, offset) VALUES (?,?,?) ON CONFLICT (room, user) "
                             "DO UPDATE SET offset=max(offset, excluded.offset)",
                             [(room, user, offset) for (room, user), offset in self.reads.items()])
        if self.rooms:
            conn.executemany("UPDATE rooms SET head=? WHERE id=?", [(heads[r], r) for r in self.rooms])
        self.__init__()  # type: ignore[misc]  # resets every field; mypy refuses __init__ called on an instance


_Op = Callable[[sqlite3.Connection, _Batch], Any]


MESSAGE_COLUMNS = "room, offset, ts_ms, sender, name, text, key, data"


def _message(row: tuple[Any, ...]) -> StoredMessage:
    return StoredMessage(row[0], row[1], row[2], row[3], row[4], row[5], row[6],
                         None if row[7] is None else json.loads(row[7]))


def _add_data_column(conn: sqlite3.Connection) -> None:
    """Databases made before notices carried data get the column (NULL for their messages)."""
    if "data" not in {row[1] for row in conn.execute("PRAGMA table_info(messages)")}:
        conn.execute("ALTER TABLE messages ADD COLUMN data TEXT")


class SqliteStore:
    def __init__(self, path: str, *, synchronous: str = "full"):
        if synchronous not in ("full", "normal"):
            raise ValueError("sqlite synchronous must be 'full' or 'normal'")
        self._path = path
        self._synchronous = synchronous.upper()
        self._writer_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._reader_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sqlite-reader")
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._checkpoint_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sqlite-checkpoint")
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpoint_task: asyncio.Task[None] | None = None
        self._pending: list[tuple[_Op, bool, asyncio.Future[Any]]] = []
        self._wake = asyncio.Event()
        self._writer_task: asyncio.Task[None] | None = None
        self._closing = False
        self._heads: dict[str, int] = {}  # touched only by the writer thread

    # -- lifecycle -----------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = connect_private(self._path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute("PRAGMA busy_timeout=5000")
        return conn

    async def open(self) -> None:
        loop = asyncio.get_running_loop()

        def setup() -> sqlite3.Connection:
            conn = self._connect()
            conn.executescript(SCHEMA + retention.INDEX)
            _add_data_column(conn)
            conn.execute("PRAGMA wal_autocheckpoint=0")  # the checkpointer does it, off the commit path
            return conn

        self._writer = await loop.run_in_executor(self._writer_pool, setup)
        self._reader = await loop.run_in_executor(self._reader_pool, self._connect)
        self._checkpointer = await loop.run_in_executor(self._checkpoint_pool, self._connect)
        self._writer_task = asyncio.create_task(self._write_loop(), name="sqlite-group-commit")
        self._checkpoint_task = asyncio.create_task(self._checkpoint_loop(), name="sqlite-checkpoint")

    async def close(self) -> None:
        """Apply every queued write, then close the file. Calling it again does nothing."""
        if self._closing:
            return
        self._closing = True
        self._wake.set()
        if self._writer_task is not None:
            await self._writer_task
        if self._checkpoint_task is not None:
            self._checkpoint_task.cancel()
            await asyncio.gather(self._checkpoint_task, return_exceptions=True)
        loop = asyncio.get_running_loop()
        if self._checkpointer is not None:
            await loop.run_in_executor(self._checkpoint_pool, self._checkpointer.close)
        if self._writer is not None:
            await loop.run_in_executor(self._writer_pool, self._final_checkpoint_and_close)
        if self._reader is not None:
            await loop.run_in_executor(self._reader_pool, self._reader.close)
        for pool in (self._writer_pool, self._reader_pool, self._checkpoint_pool):
            pool.shutdown()

    def _final_checkpoint_and_close(self) -> None:
        assert self._writer is not None
        try:
            self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            log.warning("final checkpoint failed: %s", exc)
        self._writer.close()

    async def _checkpoint_loop(self) -> None:
        """Copy the WAL into the database file in the background (PASSIVE: never blocks the writer)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(CHECKPOINT_INTERVAL_S)
            assert self._checkpointer is not None
            try:
                await loop.run_in_executor(self._checkpoint_pool, self._checkpointer.execute,
                                           "PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as exc:
                log.warning("checkpoint failed: %s", exc)

    async def ping(self) -> None:
        await self._read(lambda c: c.execute("SELECT 1").fetchone())

    # -- the group-commit writer ----------------------------------------------------------
    def _write(self, op: _Op, *, savepoint: bool = False) -> asyncio.Future[Any]:
        """Queue a write. ``savepoint``: the op may fail after writing, so it runs in a savepoint
        (appends and receipts validate before they write and need none: they stay cheap)."""
        if self._closing:
            raise Unavailable("store is shutting down", code=ErrorCode.UNAVAILABLE, retry_after_ms=1000)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((op, savepoint, future))
        self._wake.set()
        return future

    async def _write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                results = await loop.run_in_executor(self._writer_pool, self._apply_batch,
                                                     [(op, savepoint) for op, savepoint, _ in batch])
                for (_, _, future), (ok, value) in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
            if self._closing:
                return

    def _apply_batch(self, ops: list[tuple[_Op, bool]]) -> list[tuple[bool, Any]]:
        conn = self._writer
        assert conn is not None
        results: list[tuple[bool, Any]] = []
        batch = _Batch()
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op, savepoint in ops:
                if savepoint:
                    batch.flush(conn, self._heads)  # so the op sees, and a rollback keeps, what came before
                    conn.execute("SAVEPOINT op")
                try:
                    results.append((True, op(conn, batch)))
                    if savepoint:
                        conn.execute("RELEASE op")
                except RtError as exc:  # a refused write (room full, unknown room): the rest proceed
                    if savepoint:
                        conn.execute("ROLLBACK TO op")
                        conn.execute("RELEASE op")
                    results.append((False, exc))
            batch.flush(conn, self._heads)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.error("sqlite batch of %d writes failed: %s", len(ops), exc)
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._heads.clear()  # reload from the file: offsets stay gap-free
            failure = Unavailable(f"store write failed: {exc}", retry_after_ms=500)
            return [(False, failure)] * len(ops)
        return results

    async def _read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        def run() -> Any:
            assert self._reader is not None
            return fn(self._reader)

        if self._closing:
            raise Unavailable("store is shutting down", retry_after_ms=1000)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._reader_pool, run)
        except sqlite3.Error as exc:
            raise Unavailable(f"store read failed: {exc}", retry_after_ms=500) from exc

    # -- rooms and members -----------------------------------------------------------------
    async def create_room(self, room_id: str, kind: RoomKind, title: str, members: Mapping[str, MemberRole],
                          *, max_members: int) -> Room:
        now_ms = int(time.time() * 1000)

        def op(conn: sqlite3.Connection, batch: _Batch) -> Room:
            row = conn.execute("SELECT kind, epoch, title, created_ms FROM rooms WHERE id=?", (room_id,)).fetchone()
            if row is None:
                row = (str(kind), secrets.token_hex(8), title, now_ms)
                conn.execute("INSERT INTO rooms (id, kind, epoch, title, created_ms) VALUES (?,?,?,?,?)",
                             (room_id, *row))
            elif row[0] != kind:
                raise RtError(f"room {room_id!r} exists as a {row[0]}", code=ErrorCode.CONFLICT)
            self._add_members(conn, room_id, members, max_members)
            return Room(room_id, RoomKind(row[0]), row[1], row[2], row[3])

        return await self._write(op, savepoint=True)

    @staticmethod
    def _add_members(conn: sqlite3.Connection, room_id: str, members: Mapping[str, MemberRole],
                     max_members: int) -> None:
        conn.executemany("INSERT INTO members (room, user, role) VALUES (?,?,?) "
                         "ON CONFLICT (room, user) DO UPDATE SET role=excluded.role",
                         [(room_id, user, str(role)) for user, role in members.items()])
        (count,) = conn.execute("SELECT count(*) FROM members WHERE room=?", (room_id,)).fetchone()
        if count > max_members:
            raise LimitExceeded(f"room would have {count} members; the limit is {max_members}",
                                code=ErrorCode.ROOM_FULL)

    async def get_room(self, room_id: str) -> Room | None:
        row = await self._read(lambda c: c.execute(
            "SELECT id, kind, epoch, title, created_ms FROM rooms WHERE id=?", (room_id,)).fetchone())
        return None if row is None else Room(row[0], RoomKind(row[1]), row[2], row[3], row[4])

    async def add_members(self, room_id: str, members: Mapping[str, MemberRole], *, max_members: int) -> None:
        def op(conn: sqlite3.Connection, batch: _Batch) -> None:
            if conn.execute("SELECT 1 FROM rooms WHERE id=?", (room_id,)).fetchone() is None:
                raise Forbidden(f"no room {room_id!r}", code=ErrorCode.ROOM_NOT_FOUND)
            self._add_members(conn, room_id, members, max_members)

        await self._write(op, savepoint=True)

    async def remove_member(self, room_id: str, user_id: str) -> bool:
        return await self._write(
            lambda c, batch: c.execute("DELETE FROM members WHERE room=? AND user=?", (room_id, user_id)).rowcount > 0)

    async def member_role(self, room_id: str, user_id: str) -> MemberRole | None:
        row = await self._read(lambda c: c.execute(
            "SELECT role FROM members WHERE room=? AND user=?", (room_id, user_id)).fetchone())
        return None if row is None else MemberRole(row[0])

    async def members(self, room_id: str) -> dict[str, MemberRole]:
        rows = await self._read(lambda c: c.execute(
            "SELECT user, role FROM members WHERE room=?", (room_id,)).fetchall())
        return {user: MemberRole(role) for user, role in rows}

    async def rooms_of(self, user_id: str, *, limit: int) -> list[RoomSummary]:
        rows = await self._read(lambda c: c.execute(
            "SELECT r.id, r.kind, r.title, r.epoch, r.head, coalesce(rd.offset, 0), "
            "(SELECT ts_ms FROM messages WHERE room = r.id AND offset = r.head) FROM members m "
            "JOIN rooms r ON r.id = m.room LEFT JOIN reads rd ON rd.room = m.room AND rd.user = m.user "
            "WHERE m.user=? ORDER BY r.id LIMIT ?", (user_id, limit)).fetchall())
        return [RoomSummary(r[0], RoomKind(r[1]), r[2], r[3], r[4], r[5], r[6]) for r in rows]

    # -- messages ----------------------------------------------------------------------------
    async def append(self, room_id: str, *, sender: str, name: str, text: str, key: str | None,
                     ts_ms: int, data: dict[str, Any] | None = None) -> AppendResult:
        def op(conn: sqlite3.Connection, batch: _Batch) -> AppendResult:
            # Everything is checked before anything is collected: no savepoint needed.
            if key is not None:
                earlier = batch.keys.get((room_id, sender, key))
                if earlier is not None:
                    return AppendResult(earlier, duplicate=True)
                row = conn.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room=? AND sender=? AND key=?",
                                   (room_id, sender, key)).fetchone()
                if row is not None:
                    return AppendResult(_message(row), duplicate=True)
            head = self._heads.get(room_id)
            if head is None:
                row = conn.execute("SELECT head FROM rooms WHERE id=?", (room_id,)).fetchone()
                if row is None:
                    raise Forbidden(f"no room {room_id!r}", code=ErrorCode.ROOM_NOT_FOUND)
                head = row[0]
            offset = head + 1
            message = StoredMessage(room_id, offset, ts_ms, sender, name, text, key, data)
            batch.messages.append((room_id, offset, ts_ms, sender, name, text, key,
                                   None if data is None else json.dumps(data)))
            if key is not None:
                batch.keys[(room_id, sender, key)] = message
            batch.reads[(room_id, sender)] = offset  # the sender has read everything up to their own message
            batch.rooms.add(room_id)
            self._heads[room_id] = offset
            return AppendResult(message, duplicate=False)

        return await self._write(op)

    async def read_after(self, room_id: str, offset: int, limit: int) -> list[StoredMessage]:
        rows = await self._read(lambda c: c.execute(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room=? AND offset>? "
            "ORDER BY offset LIMIT ?", (room_id, offset, limit)).fetchall())
        return [_message(r) for r in rows]

    async def read_before(self, room_id: str, offset: int | None, limit: int) -> list[StoredMessage]:
        before = 2**63 - 1 if offset is None else offset
        rows = await self._read(lambda c: c.execute(
            f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room=? AND offset<? "
            "ORDER BY offset DESC LIMIT ?", (room_id, before, limit)).fetchall())
        return [_message(r) for r in reversed(rows)]

    async def first_offset(self, room_id: str) -> int | None:
        row = await self._read(lambda c: c.execute("SELECT min(offset) FROM messages WHERE room=?",
                                                   (room_id,)).fetchone())
        return row[0]

    async def head(self, room_id: str) -> int:
        row = await self._read(lambda c: c.execute("SELECT head FROM rooms WHERE id=?", (room_id,)).fetchone())
        return 0 if row is None else row[0]

    async def set_read(self, room_id: str, user_id: str, offset: int) -> int:
        def op(conn: sqlite3.Connection, batch: _Batch) -> int:
            head = self._heads.get(room_id)
            if head is None:
                row = conn.execute("SELECT head FROM rooms WHERE id=?", (room_id,)).fetchone()
                if row is None:
                    raise Forbidden(f"no room {room_id!r}", code=ErrorCode.ROOM_NOT_FOUND)
                head = self._heads[room_id] = row[0]
            capped = min(offset, head)  # cannot have read what does not exist yet
            stored = batch.reads.get((room_id, user_id))
            if stored is None:
                row = conn.execute("SELECT offset FROM reads WHERE room=? AND user=?", (room_id, user_id)).fetchone()
                stored = 0 if row is None else row[0]
            batch.reads[(room_id, user_id)] = result = max(stored, capped)
            return result

        return await self._write(op)

    async def read_offsets(self, room_id: str) -> dict[str, int]:
        rows = await self._read(lambda c: c.execute("SELECT user, offset FROM reads WHERE room=?",
                                                    (room_id,)).fetchall())
        return dict(rows)

    # -- retention (rtserver/retention; the SQL in sqlite_retention.py) -----------------------
    def reapers(self) -> dict[Kind, Reaper]:
        return {Kind.MESSAGES: FnReaper(self._delete_due_messages, lambda: self._read(retention.oldest_message_ms)),
                Kind.IDEMPOTENCY_KEYS: FnReaper(self._clear_due_keys, lambda: self._read(retention.oldest_key_ms))}

    async def _delete_due_messages(self, cutoff: int, limit: int, cursor: str) -> tuple[int, str | None]:
        rooms, last = await self._read(lambda c: retention.due_rooms(c, cursor, cutoff))
        if not rooms:
            return 0, last
        deleted, done = await self._write(lambda c, batch: retention.trim_rooms(c, rooms, cutoff, limit))
        if done < len(rooms):  # go on from the first room not done: the cursor is the one before it
            return deleted, cursor if done == 0 else rooms[done - 1]
        return deleted, last

    async def _clear_due_keys(self, cutoff: int, limit: int, cursor: str) -> tuple[int, str | None]:
        cleared = await self._write(lambda c, batch: retention.clear_due_keys(c, cutoff, limit))
        return cleared, "" if cleared == limit else None

    # -- a person's erasure (backends/erasure.py) ----------------------------------------------
    async def erase_sender(self, room_id: str, user_id: str, *, scrub: Sequence[str] = ()) -> int:
        """Tombstone the user's messages in the room and scrub the notices quoting ``scrub``, in
        write ops of ``ERASE_ROWS`` offsets (chat writes go between them); how many changed. Also
        drops the user's read position in the room."""
        changed, after = 0, 0
        while after is not None:
            def op(conn: sqlite3.Connection, batch: _Batch, after: int = after) -> tuple[int, int | None]:
                return self._erase_rows(conn, room_id, user_id, scrub, after)

            n, after = await self._write(op, savepoint=True)  # sees the messages queued before it
            changed += n
        return changed

    @staticmethod
    def _erase_rows(conn: sqlite3.Connection, room_id: str, user_id: str, scrub: Sequence[str],
                    after: int) -> tuple[int, int | None]:
        """One window of ``ERASE_ROWS`` offsets after ``after`` (a primary-key range: the op's cost
        is bounded however few of the room's messages are the person's); (changed, next window's
        start or None at the head)."""
        rows = conn.execute(f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE room=? AND offset>? AND offset<=? "
                            "AND sender IN (?,?) ORDER BY offset", (room_id, after, after + ERASE_ROWS, user_id,
                                                                    NOTICE_SENDER)).fetchall()
        updates = [m for r in rows if (m := erased_message(_message(r), user_id, scrub)) is not None]
        conn.executemany("UPDATE messages SET sender=?, name=?, text=?, key=?, data=? WHERE room=? AND offset=?",
                         [(m.sender, m.name, m.text, m.key, None if m.data is None else json.dumps(m.data), m.room,
                           m.offset) for m in updates])
        if after + ERASE_ROWS < _head(conn, room_id):
            return len(updates), after + ERASE_ROWS
        conn.execute("DELETE FROM reads WHERE room=? AND user=?", (room_id, user_id))  # the last window
        return len(updates), None


def _head(conn: sqlite3.Connection, room_id: str) -> int:
    row = conn.execute("SELECT head FROM rooms WHERE id=?", (room_id,)).fetchone()
    return 0 if row is None else row[0]
