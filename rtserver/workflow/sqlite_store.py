"""The workflow store in the chat store's SQLite file, on a connection of its own
(``backends.sqlite_thread``). Every write that must be atomic (cap checks, claims,
compare-and-set) is one ``BEGIN IMMEDIATE`` transaction, so no other writer, on this node or
another process, can slip in between the check and the change.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from ..backends.sqlite_thread import SqliteThread
from ..errors import ErrorCode, LimitExceeded, RtError
from ..reaping import Kind, Reaper
from . import retention
from .erasure import HOLD_SCHEMA, Hold, sqlite_erase_person
from .store import (
    Appointment,
    Callback,
    Cover,
    FollowUp,
    FollowUpStatus,
    Timer,
    TimerKind,
    User,
)

__all__ = ["SqliteWorkflowStore"]

T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS wf_users (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, email TEXT NOT NULL,
    volunteer INTEGER NOT NULL, updated_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS wf_followups (
    jobseeker TEXT PRIMARY KEY, advisor TEXT NOT NULL, status TEXT NOT NULL, room TEXT NOT NULL,
    since_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS wf_followups_by_advisor ON wf_followups (advisor, status);
CREATE TABLE IF NOT EXISTS wf_callbacks (
    id TEXT PRIMARY KEY, jobseeker TEXT NOT NULL, status TEXT NOT NULL, due_ms INTEGER NOT NULL,
    created_ms INTEGER NOT NULL, version INTEGER NOT NULL, data TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS wf_callbacks_by_jobseeker ON wf_callbacks (jobseeker, created_ms);
CREATE TABLE IF NOT EXISTS wf_appointments (
    id TEXT PRIMARY KEY, advisor TEXT NOT NULL, jobseeker TEXT NOT NULL, start_ms INTEGER NOT NULL,
    version INTEGER NOT NULL, data TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS wf_appointments_by_advisor ON wf_appointments (advisor, start_ms);
CREATE INDEX IF NOT EXISTS wf_appointments_by_jobseeker ON wf_appointments (jobseeker, start_ms);
CREATE TABLE IF NOT EXISTS wf_timers (
    kind TEXT NOT NULL, ref TEXT NOT NULL, due_ms INTEGER NOT NULL, PRIMARY KEY (kind, ref)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS wf_timers_by_due ON wf_timers (due_ms);
CREATE TABLE IF NOT EXISTS wf_covers (
    advisor TEXT NOT NULL, colleague TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (advisor, colleague)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS wf_outbox (id TEXT PRIMARY KEY, payload BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS wf_questions (jobseeker TEXT PRIMARY KEY, since_ms INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS wf_reply_times (
    advisor TEXT NOT NULL, replied_ms INTEGER NOT NULL, seconds REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS wf_reply_times_by_advisor ON wf_reply_times (advisor, replied_ms);
CREATE TABLE IF NOT EXISTS wf_digest_marks (
    user TEXT NOT NULL, room TEXT NOT NULL, offset INTEGER NOT NULL, PRIMARY KEY (user, room)
) WITHOUT ROWID;
"""

_FOLLOWUP_COLUMNS = "jobseeker, advisor, status, room, since_ms, updated_ms"


def _followup(row: tuple[Any, ...]) -> FollowUp:
    return FollowUp(row[0], row[1], FollowUpStatus(row[2]), row[3], row[4], row[5])


def _active_count(conn: sqlite3.Connection, advisor: str) -> int:
    return conn.execute("SELECT count(*) FROM wf_followups WHERE advisor=? AND status='active'",
                        (advisor,)).fetchone()[0]


def _full(advisor: str, cap: int) -> LimitExceeded:
    return LimitExceeded(f"advisor {advisor!r} already follows {cap} jobseekers (the cap)",
                         code=ErrorCode.PORTFOLIO_FULL)


class SqliteWorkflowStore:
    def __init__(self, path: str, *, busy_timeout_ms: int = 5000):
        self._db = SqliteThread(path, schema=SCHEMA + retention.INDEXES + HOLD_SCHEMA, name="workflow",
                                busy_timeout_ms=busy_timeout_ms)

    async def open(self) -> None:
        await self._db.open()

    async def close(self) -> None:
        await self._db.close()

    async def _run(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = False) -> T:
        return await self._db.run(fn, write=write)

    def reapers(self) -> dict[Kind, Reaper]:
        """Callbacks, appointments and the webhook outbox under the retention sweep."""
        return retention.sqlite_reapers(self._run)

    # -- users ---------------------------------------------------------------------------------
    async def put_user(self, user: User) -> None:
        await self._run(lambda c: c.execute(
            "INSERT INTO wf_users (id, name, role, email, volunteer, updated_ms) VALUES (?,?,?,?,?,?) "
            "ON CONFLICT (id) DO UPDATE SET name=excluded.name, role=excluded.role, email=excluded.email, "
            "volunteer=excluded.volunteer, updated_ms=excluded.updated_ms",
            (user.id, user.name, user.role, user.email, int(user.volunteer), user.updated_ms)), write=True)

    async def get_users(self, user_ids: list[str]) -> dict[str, User]:
        def fn(c: sqlite3.Connection) -> dict[str, User]:
            found: dict[str, User] = {}
            for start in range(0, len(user_ids), 500):
                chunk = user_ids[start:start + 500]
                rows = c.execute("SELECT id, name, role, email, volunteer, updated_ms FROM wf_users WHERE id IN "
                                 f"({','.join('?' * len(chunk))})", chunk).fetchall()
                found.update({r[0]: User(r[0], r[1], r[2], r[3], bool(r[4]), r[5]) for r in rows})
            return found

        return await self._run(fn)

    async def advisors(self) -> list[str]:
        rows = await self._run(lambda c: c.execute("SELECT id FROM wf_users WHERE role='advisor' ORDER BY id")
                               .fetchall())
        return [r[0] for r in rows]

    # -- portfolios ----------------------------------------------------------------------------
    async def assign(self, jobseeker: str, advisor: str, *, room: str, cap: int, now_ms: int) -> FollowUp:
        def fn(c: sqlite3.Connection) -> FollowUp:
            row = c.execute(f"SELECT {_FOLLOWUP_COLUMNS} FROM wf_followups WHERE jobseeker=?", (jobseeker,)).fetchone()
            if row is not None:
                if row[1] != advisor:
                    raise RtError(f"{jobseeker!r} is followed by {row[1]!r}: transfer instead",
                                  code=ErrorCode.CONFLICT)
                return _followup(row)
            if _active_count(c, advisor) >= cap:
                raise _full(advisor, cap)
            c.execute(f"INSERT INTO wf_followups ({_FOLLOWUP_COLUMNS}) VALUES (?,?,?,?,?,?)",
                      (jobseeker, advisor, "active", room, now_ms, now_ms))
            return FollowUp(jobseeker, advisor, FollowUpStatus.ACTIVE, room, now_ms, now_ms)

        return await self._run(fn, write=True)

    async def transfer(self, jobseeker: str, advisor: str, *, cap: int, now_ms: int) -> tuple[str, FollowUp]:
        def fn(c: sqlite3.Connection) -> tuple[str, FollowUp]:
            row = c.execute(f"SELECT {_FOLLOWUP_COLUMNS} FROM wf_followups WHERE jobseeker=?", (jobseeker,)).fetchone()
            if row is None:
                raise RtError(f"{jobseeker!r} has no follow-up", code=ErrorCode.NOT_FOUND)
            old = _followup(row)
            if old.advisor == advisor:
                return advisor, old
            if old.status is FollowUpStatus.ACTIVE and _active_count(c, advisor) >= cap:
                raise _full(advisor, cap)
            c.execute("UPDATE wf_followups SET advisor=?, since_ms=?, updated_ms=? WHERE jobseeker=?",
                      (advisor, now_ms, now_ms, jobseeker))
            return old.advisor, FollowUp(jobseeker, advisor, old.status, old.room, now_ms, now_ms)

        return await self._run(fn, write=True)

    async def set_status(self, jobseeker: str, status: FollowUpStatus, *, cap: int, now_ms: int) -> FollowUp:
        def fn(c: sqlite3.Connection) -> FollowUp:
            row = c.execute(f"SELECT {_FOLLOWUP_COLUMNS} FROM wf_followups WHERE jobseeker=?", (jobseeker,)).fetchone()
            if row is None:
                raise RtError(f"{jobseeker!r} has no follow-up", code=ErrorCode.NOT_FOUND)
            old = _followup(row)
            if old.status is status:
                return old
            if status is FollowUpStatus.ACTIVE and _active_count(c, old.advisor) >= cap:
                raise _full(old.advisor, cap)
            c.execute("UPDATE wf_followups SET status=?, updated_ms=? WHERE jobseeker=?", (str(status), now_ms,
                                                                                           jobseeker))
            return FollowUp(jobseeker, old.advisor, status, old.room, old.since_ms, now_ms)

        return await self._run(fn, write=True)

    async def get_followup(self, jobseeker: str) -> FollowUp | None:
        row = await self._run(lambda c: c.execute(
            f"SELECT {_FOLLOWUP_COLUMNS} FROM wf_followups WHERE jobseeker=?", (jobseeker,)).fetchone())
        return None if row is None else _followup(row)

    async def portfolio(self, advisor: str) -> list[FollowUp]:
        rows = await self._run(lambda c: c.execute(
            f"SELECT {_FOLLOWUP_COLUMNS} FROM wf_followups WHERE advisor=? AND status='active' ORDER BY jobseeker",
            (advisor,)).fetchall())
        return [_followup(r) for r in rows]

    async def portfolio_sizes(self) -> dict[str, int]:
        rows = await self._run(lambda c: c.execute(
            "SELECT advisor, count(*) FROM wf_followups WHERE status='active' GROUP BY advisor").fetchall())
        return dict(rows)

    # -- callbacks and appointments ----------------------------------------------------------------
    async def save_callback(self, callback: Callback, *, expected_version: int | None) -> bool:
        stored = _bump(callback, expected_version)

        def fn(c: sqlite3.Connection) -> bool:
            values = (str(stored.status), stored.due_ms, stored.version, stored.encode())
            if expected_version is None:
                return c.execute("INSERT OR IGNORE INTO wf_callbacks (id, jobseeker, created_ms, status, due_ms, "
                                 "version, data) VALUES (?,?,?,?,?,?,?)",
                                 (stored.id, stored.jobseeker, stored.created_ms, *values)).rowcount == 1
            return c.execute("UPDATE wf_callbacks SET status=?, due_ms=?, version=?, data=? WHERE id=? AND version=?",
                             (*values, stored.id, expected_version)).rowcount == 1

        return await self._run(fn, write=True)

    async def get_callback(self, callback_id: str) -> Callback | None:
        row = await self._run(lambda c: c.execute("SELECT data FROM wf_callbacks WHERE id=?",
                                                  (callback_id,)).fetchone())
        return None if row is None else Callback.decode(row[0])

    async def callbacks_of(self, jobseeker: str, *, limit: int) -> list[Callback]:
        rows = await self._run(lambda c: c.execute(
            "SELECT data FROM wf_callbacks WHERE jobseeker=? ORDER BY created_ms DESC LIMIT ?",
            (jobseeker, limit)).fetchall())
        return [Callback.decode(r[0]) for r in rows]

    async def pending_callbacks(self, jobseekers: list[str]) -> list[Callback]:
        def fn(c: sqlite3.Connection) -> list[Callback]:
            found: list[Callback] = []
            for start in range(0, len(jobseekers), 500):
                chunk = jobseekers[start:start + 500]
                found += [Callback.decode(r[0]) for r in c.execute(
                    "SELECT data FROM wf_callbacks WHERE status IN ('open', 'claimed') AND jobseeker IN "
                    f"({','.join('?' * len(chunk))})", chunk)]
            return sorted(found, key=lambda cb: (cb.due_ms, cb.created_ms))

        return await self._run(fn)

    async def save_appointment(self, appointment: Appointment, *, expected_version: int | None) -> bool:
        stored = _bump(appointment, expected_version)

        def fn(c: sqlite3.Connection) -> bool:
            if expected_version is None:
                return c.execute("INSERT OR IGNORE INTO wf_appointments (id, advisor, jobseeker, start_ms, version, "
                                 "data) VALUES (?,?,?,?,?,?)",
                                 (stored.id, stored.advisor, stored.jobseeker, stored.start_ms, stored.version,
                                  stored.encode())).rowcount == 1
            return c.execute("UPDATE wf_appointments SET advisor=?, start_ms=?, version=?, data=? "
                             "WHERE id=? AND version=?",
                             (stored.advisor, stored.start_ms, stored.version, stored.encode(), stored.id,
                              expected_version)).rowcount == 1

        return await self._run(fn, write=True)

    async def get_appointment(self, appointment_id: str) -> Appointment | None:
        row = await self._run(lambda c: c.execute("SELECT data FROM wf_appointments WHERE id=?",
                                                  (appointment_id,)).fetchone())
        return None if row is None else Appointment.decode(row[0])

    async def appointments_of(self, user_id: str, *, limit: int) -> list[Appointment]:
        rows = await self._run(lambda c: c.execute(
            "SELECT data FROM wf_appointments WHERE advisor=? OR jobseeker=? ORDER BY start_ms DESC LIMIT ?",
            (user_id, user_id, limit)).fetchall())
        return [Appointment.decode(r[0]) for r in rows]

    # -- covers ----------------------------------------------------------------------------------
    async def put_cover(self, cover: Cover) -> None:
        await self._run(lambda c: c.execute("INSERT OR REPLACE INTO wf_covers (advisor, colleague, data) VALUES "
                                            "(?,?,?)", (cover.advisor, cover.colleague, cover.encode())), write=True)

    async def get_cover(self, advisor: str, colleague: str) -> Cover | None:
        row = await self._run(lambda c: c.execute("SELECT data FROM wf_covers WHERE advisor=? AND colleague=?",
                                                  (advisor, colleague)).fetchone())
        return None if row is None else Cover.decode(row[0])

    async def covers_of(self, advisor: str) -> list[Cover]:
        rows = await self._run(lambda c: c.execute("SELECT data FROM wf_covers WHERE advisor=? ORDER BY colleague",
                                                   (advisor,)).fetchall())
        return [Cover.decode(r[0]) for r in rows]

    # -- timers ----------------------------------------------------------------------------------
    async def schedule(self, kind: TimerKind, ref: str, due_ms: int, *, keep_earlier: bool = False) -> None:
        update = "min(due_ms, excluded.due_ms)" if keep_earlier else "excluded.due_ms"
        await self._run(lambda c: c.execute(
            "INSERT INTO wf_timers (kind, ref, due_ms) VALUES (?,?,?) "
            f"ON CONFLICT (kind, ref) DO UPDATE SET due_ms={update}", (str(kind), ref, due_ms)), write=True)

    async def unschedule(self, kind: TimerKind, ref: str) -> None:
        await self._run(lambda c: c.execute("DELETE FROM wf_timers WHERE kind=? AND ref=?", (str(kind), ref)),
                        write=True)

    async def due_timers(self, now_ms: int, *, limit: int) -> list[Timer]:
        rows = await self._run(lambda c: c.execute(
            "SELECT kind, ref, due_ms FROM wf_timers WHERE due_ms<=? ORDER BY due_ms LIMIT ?",
            (now_ms, limit)).fetchall())
        return [Timer(TimerKind(r[0]), r[1], r[2]) for r in rows]

    async def claim_timer(self, timer: Timer) -> bool:
        return await self._run(lambda c: c.execute(
            "DELETE FROM wf_timers WHERE kind=? AND ref=? AND due_ms=?",
            (str(timer.kind), timer.ref, timer.due_ms)).rowcount == 1, write=True)

    # -- webhook outbox ----------------------------------------------------------------------------
    async def put_outbox(self, delivery_id: str, payload: bytes) -> None:
        await self._run(lambda c: c.execute("INSERT OR REPLACE INTO wf_outbox (id, payload) VALUES (?,?)",
                                            (delivery_id, payload)), write=True)

    async def get_outbox(self, delivery_id: str) -> bytes | None:
        row = await self._run(lambda c: c.execute("SELECT payload FROM wf_outbox WHERE id=?",
                                                  (delivery_id,)).fetchone())
        return None if row is None else bytes(row[0])

    async def delete_outbox(self, delivery_id: str) -> None:
        await self._run(lambda c: c.execute("DELETE FROM wf_outbox WHERE id=?", (delivery_id,)), write=True)

    # -- response times --------------------------------------------------------------------------
    async def note_question(self, jobseeker: str, ts_ms: int) -> bool:
        return await self._run(lambda c: c.execute(
            "INSERT OR IGNORE INTO wf_questions (jobseeker, since_ms) VALUES (?,?)",
            (jobseeker, ts_ms)).rowcount == 1, write=True)

    async def take_question(self, jobseeker: str) -> int | None:
        def fn(c: sqlite3.Connection) -> int | None:
            row = c.execute("DELETE FROM wf_questions WHERE jobseeker=? RETURNING since_ms", (jobseeker,)).fetchone()
            return None if row is None else row[0]

        return await self._run(fn, write=True)

    async def add_reply_time(self, advisor: str, replied_ms: int, seconds: float, *, keep: int) -> None:
        def fn(c: sqlite3.Connection) -> None:
            c.execute("INSERT INTO wf_reply_times (advisor, replied_ms, seconds) VALUES (?,?,?)",
                      (advisor, replied_ms, seconds))
            c.execute("DELETE FROM wf_reply_times WHERE advisor=? AND rowid NOT IN (SELECT rowid FROM wf_reply_times "
                      "WHERE advisor=? ORDER BY replied_ms DESC LIMIT ?)", (advisor, advisor, keep))

        await self._run(fn, write=True)

    async def reply_times(self, advisor: str, *, since_ms: int) -> list[float]:
        rows = await self._run(lambda c: c.execute(
            "SELECT seconds FROM wf_reply_times WHERE advisor=? AND replied_ms>=?", (advisor, since_ms)).fetchall())
        return [r[0] for r in rows]

    # -- digests ---------------------------------------------------------------------------------
    async def digest_marks(self, user_id: str) -> dict[str, int]:
        rows = await self._run(lambda c: c.execute("SELECT room, offset FROM wf_digest_marks WHERE user=?",
                                                   (user_id,)).fetchall())
        return dict(rows)

    async def set_digest_marks(self, user_id: str, marks: dict[str, int]) -> None:
        await self._run(lambda c: c.executemany(
            "INSERT INTO wf_digest_marks (user, room, offset) VALUES (?,?,?) ON CONFLICT (user, room) "
            "DO UPDATE SET offset=max(offset, excluded.offset)",
            [(user_id, room, offset) for room, offset in marks.items()]), write=True)

    # -- a person's erasure and legal holds (workflow/erasure.py) -------------------------------
    async def erase_person(self, user_id: str) -> dict[str, int]:
        return await self._run(lambda c: sqlite_erase_person(c, user_id), write=True)

    async def get_hold(self, jobseeker: str) -> Hold | None:
        row = await self._run(lambda c: c.execute("SELECT reference, since_ms FROM wf_holds WHERE jobseeker=?",
                                                  (jobseeker,)).fetchone())
        return None if row is None else Hold(jobseeker, row[0], row[1])

    async def set_hold(self, hold: Hold) -> None:
        await self._run(lambda c: c.execute(
            "INSERT INTO wf_holds (jobseeker, reference, since_ms) VALUES (?,?,?) ON CONFLICT (jobseeker) "
            "DO UPDATE SET reference=excluded.reference, since_ms=excluded.since_ms",
            (hold.jobseeker, hold.reference, hold.since_ms)), write=True)

    async def clear_hold(self, jobseeker: str) -> bool:
        return await self._run(lambda c: c.execute("DELETE FROM wf_holds WHERE jobseeker=?",
                                                   (jobseeker,)).rowcount > 0, write=True)


def _bump(record: Any, expected_version: int | None) -> Any:
    return dataclasses.replace(record, version=(expected_version or 0) + 1)
