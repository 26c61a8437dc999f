"""The workflow store on Redis, through the chat store's ``RedisLink``.

Every workflow key shares the hash tag ``{wf}``, so on Redis Cluster they all live in one slot
and every check-and-change (cap, claim, compare-and-set, timer claim) is one Lua script
(``rtserver/backends/lua/wf_*.lua``), atomic
across portfolios (a transfer touches two advisors' portfolios at once). The price is that the
workflow's keys sit on one master: they are few and small (a few hundred bytes per jobseeker)
and change at human pace, unlike chat traffic, which stays spread over the rooms' slots.

Layout::

    rt:{wf}:user:ID            hash    name, role, email, volunteer, updated_ms
    rt:{wf}:advisors           set     users whose role is advisor
    rt:{wf}:staffed            set     advisors who were ever given a jobseeker
    rt:{wf}:fu:JOBSEEKER       hash    advisor, status, room, since_ms, updated_ms
    rt:{wf}:portfolio:ADVISOR  set     the advisor's active jobseekers (the cap counts these)
    rt:{wf}:cb:ID              hash    v (version), d (the callback, JSON)
    rt:{wf}:cbs:JOBSEEKER      zset    callback ids by creation time
    rt:{wf}:cbpending:JOBSEEKER zset   open and claimed callback ids by due time
    rt:{wf}:ap:ID              hash    v, d (the appointment, JSON)
    rt:{wf}:aps:USER           zset    appointment ids (advisor's and jobseeker's) by start time
    rt:{wf}:covers:ADVISOR     hash    colleague -> the cover of the advisor's portfolio (JSON)
    rt:{wf}:timers             zset    KIND|REF by due time; ZREM-once decides which node fires it
    rt:{wf}:outbox             hash    webhook delivery id -> delivery (until delivered or given up)
    rt:{wf}:questions          hash    jobseeker -> time their unanswered wait started
    rt:{wf}:replies:ADVISOR    zset    REPLIED_MS:SECONDS:NONCE by reply time (first-reply times)
    rt:{wf}:digest:USER        hash    room -> last offset listed in a digest mail
    rt:{wf}:hold:JOBSEEKER     hash    reference, since_ms: a legal hold on the follow-up (erasure refused)
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Mapping
from typing import Any, cast

from ..backends.redis_link import RedisLink
from ..errors import ErrorCode, LimitExceeded, RtError
from ..reaping import Kind, Reaper
from . import retention
from .erasure import Hold, redis_erase_person
from .store import Appointment, Callback, Cover, FollowUp, FollowUpStatus, Timer, TimerKind, User

__all__ = ["RedisWorkflowStore"]

TAG = "rt:{wf}"
MAX_RETRIES = 5  # a transfer or status change racing another one re-reads this many times

SCRIPTS = ("wf_assign", "wf_transfer", "wf_set_status", "wf_save", "wf_claim_timer", "wf_take_question")


def _esc(identifier: str) -> str:
    return identifier.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")


def _key(kind: str, identifier: str = "") -> str:
    return f"{TAG}:{kind}:{_esc(identifier)}" if identifier else f"{TAG}:{kind}"


def _s(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


def _followup(jobseeker: str, h: Mapping[bytes | str, bytes | str]) -> FollowUp | None:
    if not h:
        return None
    g = {_s(k): _s(v) for k, v in h.items()}
    return FollowUp(jobseeker, g["advisor"], FollowUpStatus(g["status"]), g["room"], int(g["since_ms"]),
                    int(g["updated_ms"]))


def _full(advisor: str, cap: int) -> LimitExceeded:
    return LimitExceeded(f"advisor {advisor!r} already follows {cap} jobseekers (the cap)",
                         code=ErrorCode.PORTFOLIO_FULL)


def _missing(jobseeker: str) -> RtError:
    return RtError(f"{jobseeker!r} has no follow-up", code=ErrorCode.NOT_FOUND)


class RedisWorkflowStore:
    def __init__(self, link: RedisLink):
        self._link = link
        self._scripts = {name: link.register_lua(name) for name in SCRIPTS}

    async def open(self) -> None:
        """Nothing to prepare: the shared client connects on first use."""

    def reapers(self) -> dict[Kind, Reaper]:
        """Callbacks, appointments and the webhook outbox under the retention sweep."""
        return retention.redis_reapers(self._link)

    async def close(self) -> None:
        """The link belongs to the chat store, which closes it."""

    async def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return await self._link.call(name, lambda: self._scripts[name](keys=keys, args=args))

    async def _pipeline(self, op: str, build: Any) -> list[Any]:
        async def run() -> list[Any]:
            async with self._link.client.pipeline(transaction=False) as pipe:
                build(pipe)
                return await pipe.execute()

        return await self._link.call(op, run)

    # -- users ---------------------------------------------------------------------------------
    async def put_user(self, user: User) -> None:
        def build(pipe: Any) -> None:
            pipe.hset(_key("user", user.id), mapping={
                "name": user.name, "role": user.role, "email": user.email, "volunteer": int(user.volunteer),
                "updated_ms": user.updated_ms})
            if user.role == "advisor":
                pipe.sadd(_key("advisors"), user.id)
            else:
                pipe.srem(_key("advisors"), user.id)

        await self._pipeline("wf_put_user", build)

    async def get_users(self, user_ids: list[str]) -> dict[str, User]:
        rows = await self._pipeline("wf_get_users", lambda p: [p.hgetall(_key("user", u)) for u in user_ids])
        found: dict[str, User] = {}
        for user_id, h in zip(user_ids, rows, strict=True):
            if h:
                g = {_s(k): _s(v) for k, v in h.items()}
                found[user_id] = User(user_id, g["name"], g["role"], g["email"], g["volunteer"] == "1",
                                      int(g["updated_ms"]))
        return found

    async def advisors(self) -> list[str]:
        return sorted(_s(m) for m in await self._link.call(
            "wf_advisors", lambda: self._link.client.smembers(_key("advisors"))))

    # -- portfolios ----------------------------------------------------------------------------
    async def assign(self, jobseeker: str, advisor: str, *, room: str, cap: int, now_ms: int) -> FollowUp:
        reply = await self._script("wf_assign", [_key("fu", jobseeker), _key("portfolio", advisor), _key("staffed")],
                                   [advisor, room, cap, now_ms, jobseeker])
        status = _s(reply[0])
        if status == "conflict":
            raise RtError(f"{jobseeker!r} is followed by {_s(reply[1])!r}: transfer instead", code=ErrorCode.CONFLICT)
        if status == "full":
            raise _full(advisor, cap)
        found = await self.get_followup(jobseeker)
        assert found is not None
        return found

    async def transfer(self, jobseeker: str, advisor: str, *, cap: int, now_ms: int) -> tuple[str, FollowUp]:
        for _ in range(MAX_RETRIES):
            current = await self.get_followup(jobseeker)
            if current is None:
                raise _missing(jobseeker)
            reply = await self._script(
                "wf_transfer",
                [_key("fu", jobseeker), _key("portfolio", current.advisor), _key("portfolio", advisor),
                 _key("staffed")],
                [current.advisor, advisor, cap, now_ms, jobseeker])
            status = _s(reply[0])
            if status == "missing":
                raise _missing(jobseeker)
            if status == "full":
                raise _full(advisor, cap)
            if status in ("ok", "same"):
                moved = await self.get_followup(jobseeker)
                assert moved is not None
                return current.advisor, moved
        raise RtError("the follow-up kept changing: try again", code=ErrorCode.CONFLICT)

    async def set_status(self, jobseeker: str, status: FollowUpStatus, *, cap: int, now_ms: int) -> FollowUp:
        for _ in range(MAX_RETRIES):
            current = await self.get_followup(jobseeker)
            if current is None:
                raise _missing(jobseeker)
            reply = await self._script("wf_set_status", [_key("fu", jobseeker), _key("portfolio", current.advisor)],
                                       [current.advisor, str(status), cap, now_ms, jobseeker])
            result = _s(reply[0])
            if result == "missing":
                raise _missing(jobseeker)
            if result == "full":
                raise _full(current.advisor, cap)
            if result in ("ok", "same"):
                changed = await self.get_followup(jobseeker)
                assert changed is not None
                return changed
        raise RtError("the follow-up kept changing: try again", code=ErrorCode.CONFLICT)

    async def get_followup(self, jobseeker: str) -> FollowUp | None:
        h = await self._link.call("wf_get_followup", lambda: self._link.client.hgetall(_key("fu", jobseeker)))
        return _followup(jobseeker, h)

    async def portfolio(self, advisor: str) -> list[FollowUp]:
        members = sorted(_s(m) for m in await self._link.call(
            "wf_portfolio", lambda: self._link.client.smembers(_key("portfolio", advisor))))
        rows = await self._pipeline("wf_portfolio", lambda p: [p.hgetall(_key("fu", j)) for j in members])
        found = [_followup(j, h) for j, h in zip(members, rows, strict=True)]
        return [f for f in found if f is not None and f.advisor == advisor and f.status is FollowUpStatus.ACTIVE]

    async def portfolio_sizes(self) -> dict[str, int]:
        advisors = sorted({_s(m) for m in await self._link.call(
            "wf_portfolio_sizes", lambda: self._link.client.smembers(_key("staffed")))})
        sizes = await self._pipeline("wf_portfolio_sizes", lambda p: [p.scard(_key("portfolio", a)) for a in advisors])
        return {a: int(n) for a, n in zip(advisors, sizes, strict=True) if n}

    # -- callbacks and appointments ----------------------------------------------------------------
    async def _save(self, record_key: str, record: Any, expected_version: int | None,
                    indexes: list[tuple[str, str, int, str]]) -> bool:
        keys = [record_key] + [key for key, _, _, _ in indexes]
        args: list[Any] = ["-" if expected_version is None else str(expected_version),
                           (expected_version or 0) + 1, _encode(record, (expected_version or 0) + 1)]
        for _, op, score, member in indexes:
            args += [op, score, member]
        return bool(await self._script("wf_save", keys, args))

    async def save_callback(self, callback: Callback, *, expected_version: int | None) -> bool:
        pending = "add" if callback.status.pending else "rem"
        return await self._save(_key("cb", callback.id), callback, expected_version, [
            (_key("cbs", callback.jobseeker), "add", callback.created_ms, callback.id),
            (_key("cbpending", callback.jobseeker), pending, callback.due_ms, callback.id)])

    async def _records(self, op: str, prefix: str, ids: list[str]) -> list[bytes]:
        rows = await self._pipeline(op, lambda p: [p.hget(_key(prefix, i), "d") for i in ids])
        return [r for r in rows if r is not None]

    async def get_callback(self, callback_id: str) -> Callback | None:
        found = await self._records("wf_get_callback", "cb", [callback_id])
        return Callback.decode(found[0]) if found else None

    async def callbacks_of(self, jobseeker: str, *, limit: int) -> list[Callback]:
        ids = [_s(i) for i in cast(list[bytes], await self._link.call(  # no withscores: members only
            "wf_callbacks_of", lambda: self._link.client.zrevrange(_key("cbs", jobseeker), 0, limit - 1)))]
        return [Callback.decode(r) for r in await self._records("wf_callbacks_of", "cb", ids)]

    async def pending_callbacks(self, jobseekers: list[str]) -> list[Callback]:
        lists = await self._pipeline("wf_pending_callbacks",
                                     lambda p: [p.zrange(_key("cbpending", j), 0, -1) for j in jobseekers])
        ids = [_s(i) for ids in lists for i in ids]
        found = [Callback.decode(r) for r in await self._records("wf_pending_callbacks", "cb", ids)]
        return sorted((cb for cb in found if cb.status.pending), key=lambda cb: (cb.due_ms, cb.created_ms))

    async def save_appointment(self, appointment: Appointment, *, expected_version: int | None) -> bool:
        indexes = [(_key("aps", appointment.advisor), "add", appointment.start_ms, appointment.id),
                   (_key("aps", appointment.jobseeker), "add", appointment.start_ms, appointment.id)]
        if expected_version is not None:
            # Only the stored version tells which advisor's index to leave; the script's version
            # check makes sure that what was read here is still what is stored.
            old = await self.get_appointment(appointment.id)
            if old is None or old.version != expected_version:
                return False
            if old.advisor != appointment.advisor:
                indexes.append((_key("aps", old.advisor), "rem", 0, appointment.id))
        return await self._save(_key("ap", appointment.id), appointment, expected_version, indexes)

    async def get_appointment(self, appointment_id: str) -> Appointment | None:
        found = await self._records("wf_get_appointment", "ap", [appointment_id])
        return Appointment.decode(found[0]) if found else None

    async def appointments_of(self, user_id: str, *, limit: int) -> list[Appointment]:
        ids = [_s(i) for i in cast(list[bytes], await self._link.call(  # no withscores: members only
            "wf_appointments_of", lambda: self._link.client.zrevrange(_key("aps", user_id), 0, limit - 1)))]
        found = [Appointment.decode(r) for r in await self._records("wf_appointments_of", "ap", ids)]
        return [a for a in found if user_id in (a.advisor, a.jobseeker)]

    # -- covers ----------------------------------------------------------------------------------
    async def put_cover(self, cover: Cover) -> None:
        await self._link.call("wf_put_cover", lambda: self._link.client.hset(
            _key("covers", cover.advisor), cover.colleague, cover.encode()))

    async def get_cover(self, advisor: str, colleague: str) -> Cover | None:
        found = await self._link.call("wf_get_cover", lambda: self._link.client.hget(_key("covers", advisor),
                                                                                       colleague))
        return None if found is None else Cover.decode(found)

    async def covers_of(self, advisor: str) -> list[Cover]:
        found = await self._link.call("wf_covers_of", lambda: self._link.client.hgetall(_key("covers", advisor)))
        return [Cover.decode(raw) for _, raw in sorted(found.items())]

    # -- timers ----------------------------------------------------------------------------------
    async def schedule(self, kind: TimerKind, ref: str, due_ms: int, *, keep_earlier: bool = False) -> None:
        await self._link.call("wf_schedule", lambda: self._link.client.zadd(
            _key("timers"), {f"{kind}|{ref}": due_ms}, lt=keep_earlier))

    async def unschedule(self, kind: TimerKind, ref: str) -> None:
        await self._link.call("wf_unschedule", lambda: self._link.client.zrem(_key("timers"), f"{kind}|{ref}"))

    async def due_timers(self, now_ms: int, *, limit: int) -> list[Timer]:
        rows = cast(list[tuple[bytes, float]], await self._link.call(  # withscores: (member, score) pairs
            "wf_due_timers", lambda: self._link.client.zrangebyscore(
                _key("timers"), "-inf", now_ms, start=0, num=limit, withscores=True)))
        timers = []
        for member, score in rows:
            kind, _, ref = _s(member).partition("|")
            timers.append(Timer(TimerKind(kind), ref, int(score)))
        return timers

    async def claim_timer(self, timer: Timer) -> bool:
        return bool(await self._script("wf_claim_timer", [_key("timers")], [f"{timer.kind}|{timer.ref}",
                                                                            timer.due_ms]))

    # -- webhook outbox ----------------------------------------------------------------------------
    async def put_outbox(self, delivery_id: str, payload: bytes) -> None:
        await self._link.call("wf_put_outbox", lambda: self._link.client.hset(_key("outbox"), delivery_id, payload))

    async def get_outbox(self, delivery_id: str) -> bytes | None:
        found = cast(bytes | None, await self._link.call("wf_get_outbox", lambda: self._link.client.hget(
            _key("outbox"), delivery_id)))  # bytes: the client does not decode replies (redis_link)
        return None if found is None else bytes(found)

    async def delete_outbox(self, delivery_id: str) -> None:
        await self._link.call("wf_delete_outbox", lambda: self._link.client.hdel(_key("outbox"), delivery_id))

    # -- response times --------------------------------------------------------------------------
    async def note_question(self, jobseeker: str, ts_ms: int) -> bool:
        return bool(await self._link.call("wf_note_question", lambda: self._link.client.hsetnx(
            _key("questions"), jobseeker, ts_ms)))

    async def take_question(self, jobseeker: str) -> int | None:
        since = await self._script("wf_take_question", [_key("questions")], [jobseeker])
        return None if since is None else int(since)

    async def add_reply_time(self, advisor: str, replied_ms: int, seconds: float, *, keep: int) -> None:
        key = _key("replies", advisor)

        def build(pipe: Any) -> None:
            pipe.zadd(key, {f"{replied_ms}:{seconds}:{secrets.token_hex(3)}": replied_ms})
            pipe.zremrangebyrank(key, 0, -(keep + 1))

        await self._pipeline("wf_add_reply_time", build)

    async def reply_times(self, advisor: str, *, since_ms: int) -> list[float]:
        rows = cast(list[bytes], await self._link.call("wf_reply_times", lambda: self._link.client.zrangebyscore(
            _key("replies", advisor), since_ms, "+inf")))  # no withscores: members only
        return [float(_s(r).split(":")[1]) for r in rows]

    # -- digests ---------------------------------------------------------------------------------
    async def digest_marks(self, user_id: str) -> dict[str, int]:
        found = await self._link.call("wf_digest_marks", lambda: self._link.client.hgetall(_key("digest", user_id)))
        return {_s(k): int(v) for k, v in found.items()}

    async def set_digest_marks(self, user_id: str, marks: dict[str, int]) -> None:
        if marks:
            # redis-py types mapping as a Mapping, invariant in its key: it refuses a dict[str, int]
            await self._link.call("wf_set_digest_marks", lambda: self._link.client.hset(
                _key("digest", user_id), mapping=marks))  # type: ignore[arg-type]

    # -- a person's erasure and legal holds (workflow/erasure.py) -------------------------------
    async def erase_person(self, user_id: str) -> dict[str, int]:
        return await redis_erase_person(self._link, _key, user_id)

    async def get_hold(self, jobseeker: str) -> Hold | None:
        h = await self._link.call("wf_get_hold", lambda: self._link.client.hgetall(_key("hold", jobseeker)))
        if not h:
            return None
        g = {_s(k): _s(v) for k, v in h.items()}
        return Hold(jobseeker, g["reference"], int(g["since_ms"]))

    async def set_hold(self, hold: Hold) -> None:
        await self._link.call("wf_set_hold", lambda: self._link.client.hset(
            _key("hold", hold.jobseeker), mapping={"reference": hold.reference, "since_ms": hold.since_ms}))

    async def clear_hold(self, jobseeker: str) -> bool:
        return bool(await self._link.call("wf_clear_hold",
                                          lambda: self._link.client.delete(_key("hold", jobseeker))))


def _encode(record: Any, version: int) -> str:
    return dataclasses.replace(record, version=version).encode()
