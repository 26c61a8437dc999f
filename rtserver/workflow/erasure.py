"""The workflow's part of a person's erasure and legal holds (``rtserver/privacy``), on both
families, as ``retention.py`` holds its part of the retention sweep.

``erase_person(user)`` deletes, in one SQLite transaction or one pipeline of the ``{wf}`` slot:
the profile (name, e-mail address), the callback requests the person made (reasons, windows,
advisors' notes), the appointments they were a party to (either side: the other party's index
loses them too), their pending digest, unanswered-question and membership-repair timers, their
unanswered wait, their digest marks, and, for an advisor, their reply times and the covers of
their portfolio. The follow-up record (ids, status, advisor) stays: it holds no words, and the
advisor's portfolio and the conversation hang on it (docs/privacy.md).

A *legal hold* on a follow-up (``PUT /api/followups/{id}/hold``) keeps everything of that
jobseeker: their erasure is refused (``legal_hold``) until the hold is lifted. It holds a short
reference (a case number) and when it was set; nothing else.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from typing import Any

from ..backends.redis_link import RedisLink

__all__ = ["ERASED_COUNTS", "HOLD_SCHEMA", "MAX_REFERENCE_CHARS", "Hold", "redis_erase_person", "sqlite_erase_person"]

MAX_REFERENCE_CHARS = 200
ERASED_COUNTS = ("profile", "callbacks", "appointments", "timers")
HOLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS wf_holds (
    jobseeker TEXT PRIMARY KEY, reference TEXT NOT NULL, since_ms INTEGER NOT NULL
) WITHOUT ROWID;
"""
PERSON_TIMERS = ("digest", "unanswered", "membership")  # TimerKind values whose ref is the person


@dataclasses.dataclass(frozen=True, slots=True)
class Hold:
    jobseeker: str
    reference: str
    since_ms: int

    def to_dict(self) -> dict[str, Any]:
        return {"jobseeker": self.jobseeker, "reference": self.reference, "since": self.since_ms}


def sqlite_erase_person(c: sqlite3.Connection, user: str) -> dict[str, int]:
    """Run in the workflow store's write transaction."""
    appointments = [r[0] for r in c.execute("SELECT id FROM wf_appointments WHERE advisor=? OR jobseeker=?",
                                            (user, user)).fetchall()]
    c.executemany("DELETE FROM wf_appointments WHERE id=?", [(a,) for a in appointments])
    counts = {
        "profile": c.execute("DELETE FROM wf_users WHERE id=?", (user,)).rowcount,
        "callbacks": c.execute("DELETE FROM wf_callbacks WHERE jobseeker=?", (user,)).rowcount,
        "appointments": len(appointments),
        "timers": c.execute(f"DELETE FROM wf_timers WHERE ref=? AND kind IN ({','.join('?' * len(PERSON_TIMERS))})",
                            (user, *PERSON_TIMERS)).rowcount,
    }
    c.execute("DELETE FROM wf_questions WHERE jobseeker=?", (user,))
    c.execute("DELETE FROM wf_reply_times WHERE advisor=?", (user,))
    c.execute("DELETE FROM wf_digest_marks WHERE user=?", (user,))
    c.execute("DELETE FROM wf_covers WHERE advisor=?", (user,))
    return counts


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def redis_erase_person(link: RedisLink, key: Any, user: str) -> dict[str, int]:
    """``key(kind, id)``: the workflow store's key names. Reads the person's indexes, then deletes
    in one pipeline (a second erasure of the same person finds nothing left and does nothing)."""
    async def read() -> list[Any]:
        async with link.client.pipeline(transaction=False) as pipe:
            pipe.zrange(key("cbs", user), 0, -1)
            pipe.zrange(key("aps", user), 0, -1)
            pipe.exists(key("user", user))
            return await pipe.execute()

    callback_ids, appointment_ids, profile = await link.call("wf_erase_read", read)
    callback_ids, appointment_ids = [_s(i) for i in callback_ids], [_s(i) for i in appointment_ids]

    async def parties() -> list[Any]:
        async with link.client.pipeline(transaction=False) as pipe:
            for a in appointment_ids:
                pipe.hget(key("ap", a), "d")
            return await pipe.execute()

    others: dict[str, str] = {}
    for a, raw in zip(appointment_ids, await link.call("wf_erase_read", parties) if appointment_ids else [],
                      strict=True):
        if raw is not None:
            record = json.loads(raw)
            others[a] = record["jobseeker"] if record["advisor"] == user else record["advisor"]

    async def delete() -> list[Any]:
        async with link.client.pipeline(transaction=False) as pipe:
            for c in callback_ids:
                pipe.delete(key("cb", c))
            for a in appointment_ids:
                pipe.delete(key("ap", a))
                if a in others:
                    pipe.zrem(key("aps", others[a]), a)
            pipe.delete(key("cbs", user), key("cbpending", user), key("aps", user), key("user", user),
                        key("replies", user), key("digest", user), key("covers", user))
            pipe.srem(key("advisors"), user)
            pipe.srem(key("staffed"), user)
            pipe.zrem(key("timers"), *(f"{kind}|{user}" for kind in PERSON_TIMERS))
            pipe.hdel(key("questions"), user)
            return await pipe.execute()

    results = await link.call("wf_erase", delete)
    timers = results[-2]  # the ZREM of the timers (before the HDEL of the wait)
    return {"profile": int(profile), "callbacks": len(callback_ids), "appointments": len(appointment_ids),
            "timers": int(timers)}
