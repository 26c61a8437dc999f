"""What the follow-up workflow keeps, and the ``WorkflowStore`` contract both families implement.

Records are small dataclasses. Callbacks and appointments carry a ``version``: every change is
a compare-and-set on it (``save_callback(cb, expected_version=...)``), so two advisors, two tabs
or two nodes changing the same request cannot both win; the loser re-reads and decides again.
Timers (reminders, digests, missed appointments, unanswered messages) are (kind, ref, due)
entries that exactly one node claims (``claim_timer`` removes the entry and says whether it was
this call that removed it), whatever the number of nodes.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import TYPE_CHECKING, Any, Protocol

from ..protocol.workflow import CallbackChannel as Channel

if TYPE_CHECKING:
    from ..reaping import Kind, Reaper
    from .erasure import Hold

__all__ = [
    "Appointment", "AppointmentStatus", "Callback", "CallbackStatus", "Channel", "Cover", "FollowUp", "FollowUpStatus",
    "Timer", "TimerKind", "User", "WorkflowStore", "followup_room", "jobseeker_of_room",
]

ROOM_PREFIX = "followup-"


def followup_room(jobseeker_id: str) -> str:
    """The advisor-jobseeker conversation: one per jobseeker, kept across transfers and opt-outs."""
    return ROOM_PREFIX + jobseeker_id


def jobseeker_of_room(room_id: str) -> str | None:
    return room_id[len(ROOM_PREFIX):] if room_id.startswith(ROOM_PREFIX) else None


class FollowUpStatus(enum.StrEnum):
    ACTIVE = "active"  # in web follow-up: counts in the advisor's portfolio
    OPTED_OUT = "opted_out"  # back to the agency: history kept, posting paused, slot freed


class CallbackStatus(enum.StrEnum):
    OPEN = "open"  # waiting in the queue
    CLAIMED = "claimed"  # an advisor took it
    DONE = "done"
    NO_ANSWER = "no_answer"
    CANCELLED = "cancelled"  # by the jobseeker

    @property
    def pending(self) -> bool:
        return self in (CallbackStatus.OPEN, CallbackStatus.CLAIMED)


class AppointmentStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    HELD = "held"  # both sides joined
    MISSED = "missed"  # someone did not join in time (``missed_by`` says who)
    CANCELLED = "cancelled"


class TimerKind(enum.StrEnum):
    REMINDER = "reminder"  # ref: APPOINTMENT_ID:LEAD_S
    APPOINTMENT_END = "appointment_end"  # ref: appointment id; decides held or missed
    DIGEST = "digest"  # ref: user id
    UNANSWERED = "unanswered"  # ref: jobseeker id; a message waiting past reply_sla_s
    MEMBERSHIP = "membership"  # ref: jobseeker id; completes an assignment or transfer a crash interrupted
    WEBHOOK = "webhook"  # ref: delivery id in the outbox; its node stopped retrying it (it died)


@dataclasses.dataclass(frozen=True, slots=True)
class User:
    id: str
    name: str
    role: str  # auth.Role value
    email: str = ""
    volunteer: bool = False  # advisors: volunteers for web follow-up may be assigned jobseekers
    updated_ms: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True, slots=True)
class FollowUp:
    jobseeker: str
    advisor: str
    status: FollowUpStatus
    room: str
    since_ms: int  # assigned to this advisor since
    updated_ms: int

    def to_dict(self) -> dict[str, Any]:
        return {"jobseeker": self.jobseeker, "advisor": self.advisor, "status": str(self.status), "room": self.room,
                "since": self.since_ms, "updated": self.updated_ms}


@dataclasses.dataclass(frozen=True, slots=True)
class Callback:
    id: str
    jobseeker: str
    reason: str
    channel: Channel
    windows: tuple[tuple[int, int], ...]  # (start_ms, end_ms), earliest first
    status: CallbackStatus
    created_ms: int
    due_ms: int  # when to call: the start of the earliest window; the queue's order
    late_ms: int  # past this and still pending, the request is late (SLA)
    updated_ms: int
    claimed_by: str | None = None
    claimed_ms: int | None = None
    outcomes: tuple[dict[str, Any], ...] = ()  # {outcome, by, at, note?, cover?}, oldest first
    version: int = 0
    covered: tuple[dict[str, Any], ...] = ()  # actions under a cover: {action, acted_by, advisor, cover, at}

    def to_dict(self, now_ms: int | None = None) -> dict[str, Any]:
        out = {"id": self.id, "jobseeker": self.jobseeker, "reason": self.reason, "channel": str(self.channel),
               "windows": [{"start": s, "end": e} for s, e in self.windows], "status": str(self.status),
               "created": self.created_ms, "due": self.due_ms, "late_at": self.late_ms, "updated": self.updated_ms,
               "claimed_by": self.claimed_by, "claimed_at": self.claimed_ms, "outcomes": list(self.outcomes),
               "covered": list(self.covered)}
        if now_ms is not None:
            out["age_s"] = max(0, (now_ms - self.created_ms) // 1000)
            out["late"] = self.status.pending and now_ms > self.late_ms
        return out

    def encode(self) -> str:
        data = dataclasses.asdict(self)
        data["windows"] = [list(w) for w in self.windows]
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str | bytes) -> Callback:
        d = json.loads(raw)
        d["windows"] = tuple(tuple(w) for w in d["windows"])
        d["outcomes"] = tuple(d["outcomes"])
        d["covered"] = tuple(d.get("covered", ()))  # absent from records written before covers
        d["channel"], d["status"] = Channel(d["channel"]), CallbackStatus(d["status"])
        return cls(**d)


@dataclasses.dataclass(frozen=True, slots=True)
class Appointment:
    id: str
    advisor: str
    jobseeker: str
    room: str  # the follow-up room: the interview's media room has the same id
    start_ms: int
    duration_min: int
    status: AppointmentStatus
    created_ms: int
    updated_ms: int
    joined: dict[str, int] = dataclasses.field(default_factory=dict)  # user -> first join (ms)
    missed_by: tuple[str, ...] = ()
    version: int = 0
    covered: tuple[dict[str, Any], ...] = ()  # as ``Callback.covered``


    @property
    def end_ms(self) -> int:
        return self.start_ms + self.duration_min * 60_000

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "advisor": self.advisor, "jobseeker": self.jobseeker, "room": self.room,
                "start": self.start_ms, "duration_min": self.duration_min, "status": str(self.status),
                "created": self.created_ms, "updated": self.updated_ms, "joined": dict(self.joined),
                "missed_by": list(self.missed_by), "covered": list(self.covered)}

    def encode(self) -> str:
        data = dataclasses.asdict(self)
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str | bytes) -> Appointment:
        d = json.loads(raw)
        d["status"] = AppointmentStatus(d["status"])
        d["missed_by"] = tuple(d["missed_by"])
        d["covered"] = tuple(d.get("covered", ()))
        return cls(**d)


@dataclasses.dataclass(frozen=True, slots=True)
class Cover:
    """``colleague`` may act on ``advisor``'s portfolio until ``until_ms`` (unless revoked). One
    per pair: granting again replaces it with a new id."""

    id: str
    advisor: str
    colleague: str
    until_ms: int
    created_ms: int
    revoked_ms: int | None = None

    def active(self, now_ms: int) -> bool:
        return self.revoked_ms is None and now_ms < self.until_ms

    def to_dict(self, now_ms: int) -> dict[str, Any]:
        return {"id": self.id, "advisor": self.advisor, "colleague": self.colleague, "until": self.until_ms,
                "created": self.created_ms, "revoked": self.revoked_ms, "active": self.active(now_ms)}

    def encode(self) -> str:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"))

    @classmethod
    def decode(cls, raw: str | bytes) -> Cover:
        return cls(**json.loads(raw))


@dataclasses.dataclass(frozen=True, slots=True)
class Timer:
    kind: TimerKind
    ref: str
    due_ms: int


class WorkflowStore(Protocol):
    """Durable follow-up state. Refusals raise ``RtError`` subclasses with their wire codes."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    def reapers(self) -> dict[Kind, Reaper]:
        """Callbacks, appointments and the webhook outbox under the retention sweep."""

    # -- users ---------------------------------------------------------------------------------
    async def put_user(self, user: User) -> None: ...
    async def get_users(self, user_ids: list[str]) -> dict[str, User]: ...
    async def advisors(self) -> list[str]: ...

    # -- portfolios ----------------------------------------------------------------------------
    async def assign(self, jobseeker: str, advisor: str, *, room: str, cap: int, now_ms: int) -> FollowUp:
        """Start following the jobseeker (idempotent for the same advisor). ``portfolio_full`` past
        the cap; ``conflict`` when another advisor follows them (transfer instead)."""

    async def transfer(self, jobseeker: str, advisor: str, *, cap: int, now_ms: int) -> tuple[str, FollowUp]:
        """Move an active follow-up to ``advisor`` (cap checked); returns the previous advisor."""

    async def set_status(self, jobseeker: str, status: FollowUpStatus, *, cap: int, now_ms: int) -> FollowUp:
        """Opt out or in; opting in takes a portfolio slot again (cap checked). Deletes nothing."""

    async def get_followup(self, jobseeker: str) -> FollowUp | None: ...
    async def portfolio(self, advisor: str) -> list[FollowUp]:
        """The advisor's active follow-ups."""

    async def portfolio_sizes(self) -> dict[str, int]:
        """Active follow-ups per advisor, for every advisor that has one."""

    # -- callbacks and appointments: compare-and-set on ``version`` -----------------------------
    async def save_callback(self, callback: Callback, *, expected_version: int | None) -> bool:
        """Write ``callback`` (its version + 1) if the stored one has ``expected_version`` (None:
        must not exist yet); False when someone else changed it first."""

    async def get_callback(self, callback_id: str) -> Callback | None: ...
    async def callbacks_of(self, jobseeker: str, *, limit: int) -> list[Callback]:
        """Newest first."""

    async def pending_callbacks(self, jobseekers: list[str]) -> list[Callback]:
        """Open and claimed requests of these jobseekers, by due time."""

    async def save_appointment(self, appointment: Appointment, *, expected_version: int | None) -> bool: ...
    async def get_appointment(self, appointment_id: str) -> Appointment | None: ...
    async def appointments_of(self, user_id: str, *, limit: int) -> list[Appointment]:
        """The user's appointments (as advisor or jobseeker), latest start first."""

    # -- covers --------------------------------------------------------------------------------
    async def put_cover(self, cover: Cover) -> None:
        """Keep (or replace) the cover of this (advisor, colleague) pair."""

    async def get_cover(self, advisor: str, colleague: str) -> Cover | None: ...
    async def covers_of(self, advisor: str) -> list[Cover]:
        """The covers of the advisor's portfolio (expired and revoked ones too), by colleague."""

    # -- timers --------------------------------------------------------------------------------
    async def schedule(self, kind: TimerKind, ref: str, due_ms: int, *, keep_earlier: bool = False) -> None:
        """Set the timer; with ``keep_earlier`` an existing earlier due time stays."""

    async def unschedule(self, kind: TimerKind, ref: str) -> None: ...
    async def due_timers(self, now_ms: int, *, limit: int) -> list[Timer]: ...
    async def claim_timer(self, timer: Timer) -> bool:
        """Remove the timer if it is still due as listed; True for exactly one caller."""

    # -- webhook outbox ------------------------------------------------------------------------
    async def put_outbox(self, delivery_id: str, payload: bytes) -> None:
        """Keep (or replace) a webhook delivery until it is delivered or given up."""

    async def get_outbox(self, delivery_id: str) -> bytes | None: ...
    async def delete_outbox(self, delivery_id: str) -> None: ...

    # -- response times --------------------------------------------------------------------------
    async def note_question(self, jobseeker: str, ts_ms: int) -> bool:
        """The jobseeker wrote; True when this starts a wait (no earlier unanswered message)."""

    async def take_question(self, jobseeker: str) -> int | None:
        """The advisor answered: the time the wait started, if one was running (and end it)."""

    async def add_reply_time(self, advisor: str, replied_ms: int, seconds: float, *, keep: int) -> None: ...
    async def reply_times(self, advisor: str, *, since_ms: int) -> list[float]: ...

    # -- digests ---------------------------------------------------------------------------------
    async def digest_marks(self, user_id: str) -> dict[str, int]:
        """Per room, the last offset already listed in a digest mail to the user."""

    async def set_digest_marks(self, user_id: str, marks: dict[str, int]) -> None: ...

    # -- a person's erasure and legal holds (workflow/erasure.py) -------------------------------
    async def erase_person(self, user_id: str) -> dict[str, int]:
        """Delete what the workflow holds about the person (the follow-up record stays); how many
        of each (``erasure.ERASED_COUNTS``) went."""

    async def get_hold(self, jobseeker: str) -> Hold | None: ...
    async def set_hold(self, hold: Hold) -> None: ...
    async def clear_hold(self, jobseeker: str) -> bool:
        """True when there was a hold to lift."""
