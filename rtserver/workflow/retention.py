"""The workflow's data under the retention sweep (``rtserver/retention``), on both families.

- Callback requests (with their notes, which live in the request's ``outcomes``): deleted a
  retention after they were made, once they are no longer pending (an open or claimed request
  past its retention stays until it is closed, and shows as overdue).
- Appointments: deleted a retention after the time they were for (``start_ms``).
- Webhook outbox entries: deleted a retention after their event was created (``created`` in the
  body): a delivery still there is one its node died holding and nobody recovered.

SQLite: one ``DELETE ... LIMIT`` per batch through indexes on the times (the outbox, at most
``webhook_queue_max`` rows per node, is read whole). Redis: every key of the workflow is in the
``{wf}`` slot; callbacks and appointments are walked by their per-person indexes
(``lua/retention_wf_*.lua``), the outbox hash by ``HSCAN``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from ..backends.redis_link import RedisLink
from ..backends.redis_retention import ScanReaper
from ..reaping import FnReaper, Kind, Reaper

__all__ = ["INDEXES", "redis_reapers", "sqlite_reapers"]

T = TypeVar("T")
Run = Callable[..., Awaitable[Any]]

INDEXES = """
CREATE INDEX IF NOT EXISTS wf_callbacks_by_created ON wf_callbacks (created_ms);
CREATE INDEX IF NOT EXISTS wf_appointments_by_start ON wf_appointments (start_ms);
"""

_OUTBOX_CREATED = "json_extract(json_extract(CAST(payload AS TEXT), '$.body'), '$.created')"


def _one(run: Run, sql: str) -> Callable[[], Awaitable[int | None]]:
    async def oldest() -> int | None:
        return (await run(lambda c: c.execute(sql).fetchone()))[0]
    return oldest


def _deleter(run: Run, sql: str) -> Callable[[int, int, str], Awaitable[tuple[int, str | None]]]:
    async def delete(cutoff: int, limit: int, cursor: str) -> tuple[int, str | None]:
        def op(c: sqlite3.Connection) -> int:
            return c.execute(sql, (cutoff, limit)).rowcount
        n = await run(op, write=True)
        return n, "" if n == limit else None
    return delete


def sqlite_reapers(run: Run) -> dict[Kind, Reaper]:
    """``run(fn, write=...)``: the workflow store's SQLite thread."""
    return {
        Kind.CALLBACKS: FnReaper(_deleter(run, (
            "DELETE FROM wf_callbacks WHERE id IN (SELECT id FROM wf_callbacks WHERE created_ms < ? "
            "AND status NOT IN ('open', 'claimed') ORDER BY created_ms LIMIT ?)")),
            _one(run, "SELECT min(created_ms) FROM wf_callbacks")),
        Kind.APPOINTMENTS: FnReaper(_deleter(run, (
            "DELETE FROM wf_appointments WHERE id IN (SELECT id FROM wf_appointments WHERE start_ms < ? "
            "ORDER BY start_ms LIMIT ?)")), _one(run, "SELECT min(start_ms) FROM wf_appointments")),
        Kind.WEBHOOK_OUTBOX: FnReaper(_deleter(run, (
            f"DELETE FROM wf_outbox WHERE id IN (SELECT id FROM wf_outbox WHERE {_OUTBOX_CREATED} < ? LIMIT ?)")),
            _one(run, f"SELECT min({_OUTBOX_CREATED}) FROM wf_outbox")),
    }


TAG = "rt:{wf}"


def _outbox_created(raw: bytes) -> int | None:
    try:
        return int(json.loads(json.loads(raw)["body"])["created"])
    except (ValueError, KeyError, TypeError):
        return None  # not a delivery this version wrote: kept


class _Outbox:
    """The outbox hash walked by ``HSCAN`` (a hash of at most a few thousand deliveries: Redis may
    answer it whole in one call, beyond ``limit``); ``HDEL`` counts what this call removed."""

    def __init__(self, link: RedisLink):
        self._link = link
        self._walk: int | None = None  # the oldest event kept in the walk under way
        self._oldest: int | None = None  # in the last walk that ended

    async def delete_due(self, cutoff: int, limit: int, cursor: str) -> tuple[int, str | None]:
        key = f"{TAG}:outbox"
        if cursor == "":
            self._walk = None
        next_cursor, entries = cast(tuple[int, dict[bytes, bytes]], await self._link.call(  # undecoded (redis_link)
            "retention_outbox", lambda: self._link.client.hscan(key, int(cursor or 0), count=limit)))
        created = {field: _outbox_created(raw) for field, raw in entries.items()}
        due = [field for field, t in created.items() if t is not None and t < cutoff]
        self._walk = min([t for t in created.values() if t is not None and t >= cutoff]
                         + ([] if self._walk is None else [self._walk]), default=None)
        n = int(await self._link.call("retention_outbox", lambda: self._link.client.hdel(key, *due))) if due else 0
        if int(next_cursor) == 0:
            self._oldest = self._walk
            return n, None
        return n, str(next_cursor)

    async def oldest_ms(self) -> int | None:
        return self._oldest


def redis_reapers(link: RedisLink) -> dict[Kind, Reaper]:
    callbacks = link.register_lua("retention_wf_callbacks")
    appointments = link.register_lua("retention_wf_appointments")

    async def per_callbacks(key: Any, cutoff: int, limit: int) -> tuple[int, int, bool]:
        name = key.decode() if isinstance(key, bytes) else key
        pending = name.replace(f"{TAG}:cbs:", f"{TAG}:cbpending:", 1)
        n, more, kept = await link.call("retention_callbacks", lambda: callbacks(
            keys=[name, pending], args=[cutoff, limit, f"{TAG}:cb:"]))
        return int(n), int(kept), bool(more)

    async def per_appointments(key: Any, cutoff: int, limit: int) -> tuple[int, int, bool]:
        n, more, kept = await link.call("retention_appointments", lambda: appointments(
            keys=[key], args=[cutoff, limit, f"{TAG}:"]))
        return int(n), int(kept), bool(more)

    return {
        Kind.CALLBACKS: ScanReaper(link, match=f"{TAG}:cbs:*", key_type="zset", per_key=per_callbacks),
        Kind.APPOINTMENTS: ScanReaper(link, match=f"{TAG}:aps:*", key_type="zset", per_key=per_appointments),
        Kind.WEBHOOK_OUTBOX: _Outbox(link),
    }
