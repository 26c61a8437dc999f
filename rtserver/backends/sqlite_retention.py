"""The chat store's retention on SQLite: the SQL the writer thread runs for the sweep
(``rtserver/retention``), kept out of the store's hot path.

Messages go as each room's due prefix (``retention.policy.due_prefix``): the rooms are walked in
id order, ``ROOMS_PER_READ`` at a time on the reader thread (one primary-key seek per room for
its oldest message); the rooms whose oldest message is due are then trimmed by one operation of
the group-commit writer, which reads at most ``limit`` of their oldest rows and deletes the due
prefix. A room's ``head`` is never touched: offsets stay continuous, and a client resuming from a
deleted offset is replayed what is kept (docs/retention.md).

Idempotency keys are cleared (``key = NULL``) past their retention, through the partial index
``messages_keyed_by_ts``, which holds only the messages that still have a key.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ..reaping import due_prefix

__all__ = ["ROOMS_PER_READ", "clear_due_keys", "due_rooms", "oldest_key_ms", "oldest_message_ms", "trim_rooms"]

ROOMS_PER_READ = 500  # rooms looked at per reader call: 500 seeks, about 1 ms

INDEX = "CREATE INDEX IF NOT EXISTS messages_keyed_by_ts ON messages (ts_ms) WHERE key IS NOT NULL;"


def due_rooms(conn: sqlite3.Connection, after: str, cutoff: int) -> tuple[list[str], str | None]:
    """The rooms after ``after`` (id order) whose oldest message is due, and the last room looked
    at (None when no room was left)."""
    rows = conn.execute(
        "SELECT r.id, (SELECT ts_ms FROM messages m WHERE m.room = r.id ORDER BY m.offset LIMIT 1) "
        "FROM rooms r WHERE r.id > ? ORDER BY r.id LIMIT ?", (after, ROOMS_PER_READ)).fetchall()
    due = [room for room, ts in rows if ts is not None and ts < cutoff]
    return due, (rows[-1][0] if len(rows) == ROOMS_PER_READ else None)


def trim_rooms(conn: sqlite3.Connection, rooms: list[str], cutoff: int, limit: int) -> tuple[int, int]:
    """Delete the due prefix of each room, at most ``limit`` rows in all; (rows deleted, how many
    of ``rooms`` are done). Re-reads each room in the writer's transaction: what another call
    deleted meanwhile is not counted twice."""
    deleted = 0
    for i, room in enumerate(rooms):
        take = limit - deleted
        if take <= 0:
            return deleted, i
        rows = conn.execute("SELECT offset, ts_ms FROM messages WHERE room=? ORDER BY offset LIMIT ?",
                            (room, take)).fetchall()
        n = due_prefix([ts for _, ts in rows], cutoff)
        if n:
            conn.execute("DELETE FROM messages WHERE room=? AND offset<=?", (room, rows[n - 1][0]))
            deleted += n
        if n == take:  # the room may have more due: it is not done
            return deleted, i
    return deleted, len(rooms)


def oldest_message_ms(conn: sqlite3.Connection) -> int | None:
    row: Any = conn.execute("SELECT min((SELECT ts_ms FROM messages m WHERE m.room = r.id ORDER BY m.offset "
                            "LIMIT 1)) FROM rooms r").fetchone()
    return row[0]


def clear_due_keys(conn: sqlite3.Connection, cutoff: int, limit: int) -> int:
    return conn.execute(
        "UPDATE messages SET key = NULL WHERE (room, offset) IN (SELECT room, offset FROM messages "
        "WHERE key IS NOT NULL AND ts_ms < ? ORDER BY ts_ms LIMIT ?)", (cutoff, limit)).rowcount


def oldest_key_ms(conn: sqlite3.Connection) -> int | None:
    row: Any = conn.execute("SELECT min(ts_ms) FROM messages WHERE key IS NOT NULL").fetchone()
    return row[0]
