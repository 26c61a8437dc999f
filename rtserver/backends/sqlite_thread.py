"""A SQLite connection of its own on a thread of its own, for stores that live beside the chat
store in the same file (the workflow's, the pre-call results).

One thread runs every call (a single-thread executor), so the connection is never shared between
threads; WAL lets it read while the chat store's writer commits, and ``busy_timeout`` makes the
writers wait for each other instead of failing. A ``write`` call is one ``BEGIN IMMEDIATE``
transaction: it holds the write lock from its first read, so no other writer, on this node or in
another process, can slip in between a check and the change it guards.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from ..errors import Unavailable

__all__ = ["SqliteThread", "connect_private"]

T = TypeVar("T")


def connect_private(path: str, **kwargs: Any) -> sqlite3.Connection:
    """``sqlite3.connect``, the database file first created mode 0600 when missing.

    The file holds every message and e-mail address: SQLite would create it 0666 less the umask
    (0644 usually), readable by every local user. It creates the -wal and -shm files with the
    database's own mode, so they are private too. ``os.open`` with a mode rather than a
    temporary umask: the umask is the whole process's, and other threads create files meanwhile.
    """
    if path not in ("", ":memory:") and not kwargs.get("uri"):
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass  # an existing file keeps its mode; start-up warns when others can read it
    conn: sqlite3.Connection = sqlite3.connect(path, **kwargs)
    return conn


class SqliteThread:
    def __init__(self, path: str, *, schema: str, name: str, busy_timeout_ms: int = 5000):
        self._path = path
        self._schema = schema
        self._name = name  # in thread names and error messages: "workflow", "pre-call results"
        self._busy_timeout_ms = busy_timeout_ms
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"{name.replace(' ', '-')}-sqlite")
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        def setup() -> sqlite3.Connection:
            conn = connect_private(self._path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
            conn.executescript(self._schema)
            return conn

        self._conn = await asyncio.get_running_loop().run_in_executor(self._pool, setup)

    async def close(self) -> None:
        if self._conn is not None:
            await asyncio.get_running_loop().run_in_executor(self._pool, self._conn.close)
            self._conn = None
        self._pool.shutdown()

    async def run(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = False) -> T:
        """``fn(connection)`` on the store's thread; any SQLite failure becomes ``Unavailable``."""
        def run() -> T:
            conn = self._conn
            if conn is None:
                raise Unavailable(f"the {self._name} store is closed", retry_after_ms=1000)
            if not write:
                return fn(conn)
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, run)
        except sqlite3.Error as exc:
            raise Unavailable(f"{self._name} store failed: {exc}", retry_after_ms=500) from exc
