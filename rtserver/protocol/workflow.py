"""Follow-up workflow requests (callbacks, appointments, opt-out): validated, typed, free of I/O.

Same parser signature as ``requests.py``, which merges ``WORKFLOW_PARSERS`` into its table.
Checks that need the clock or the store (a window in the past, a jobseeker not in the
portfolio) are the service's; here only shapes and bounds. See ``docs/workflow.md``.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any

from ..text import FORBIDDEN_IN_TEXT, NOT_IN_ONE_LINE, visible
from .requests import Request, _enum, _invalid, _string

__all__ = [
    "WORKFLOW_PARSERS", "AppointmentCancel", "AppointmentCreate", "AppointmentJoin",
    "CallbackCancel", "CallbackChannel", "CallbackClaim", "CallbackOutcome", "CallbackOutcomeRequest",
    "CallbackRequest", "FollowUpOptIn", "FollowUpOptOut", "GetFollowUp", "ListAppointments", "ListCallbacks",
    "one_line", "outcome_fields", "parse_windows",
]

MAX_RECORD_ID_CHARS = 32
MAX_USER_CHARS = 128
MAX_REASON_CHARS = 500
MAX_NOTE_CHARS = 1000
MAX_WINDOWS = 5
MAX_WINDOW_MS = 7 * 86_400_000  # one window spans at most a week
MAX_MS = 2**53  # JSON-safe integers


class CallbackChannel(enum.StrEnum):
    VIDEO = "video"
    PHONE = "phone"


class CallbackOutcome(enum.StrEnum):
    DONE = "done"
    NO_ANSWER = "no_answer"
    RESCHEDULED = "rescheduled"


@dataclasses.dataclass(frozen=True, slots=True)
class CallbackRequest(Request):
    reason: str
    channel: CallbackChannel
    windows: tuple[tuple[int, int], ...]


@dataclasses.dataclass(frozen=True, slots=True)
class CallbackCancel(Request):
    callback: str


@dataclasses.dataclass(frozen=True, slots=True)
class CallbackClaim(Request):
    callback: str


@dataclasses.dataclass(frozen=True, slots=True)
class CallbackOutcomeRequest(Request):
    callback: str
    outcome: CallbackOutcome
    note: str | None
    windows: tuple[tuple[int, int], ...] | None  # required when rescheduled


@dataclasses.dataclass(frozen=True, slots=True)
class ListCallbacks(Request):
    advisor: str | None = None  # an advisor's queue other than one's own: needs a cover


@dataclasses.dataclass(frozen=True, slots=True)
class AppointmentCreate(Request):
    jobseeker: str
    start: int
    duration_min: int


@dataclasses.dataclass(frozen=True, slots=True)
class AppointmentCancel(Request):
    appointment: str


@dataclasses.dataclass(frozen=True, slots=True)
class AppointmentJoin(Request):
    appointment: str


@dataclasses.dataclass(frozen=True, slots=True)
class ListAppointments(Request):
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class GetFollowUp(Request):
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class FollowUpOptOut(Request):
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class FollowUpOptIn(Request):
    pass


def _int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid(f"'{name}' must be an integer from {low} to {high}")
    return value


def parse_windows(raw: Any) -> tuple[tuple[int, int], ...]:
    """``[{start, end}, ...]`` (ms since the epoch) as sorted pairs; shared with the HTTP API."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_WINDOWS:
        raise _invalid(f"'windows' must be a list of 1 to {MAX_WINDOWS} {{start, end}} objects")
    windows = []
    for item in raw:
        if not isinstance(item, dict):
            raise _invalid("each window is an object {start, end} in ms since the epoch")
        start, end = _int(item.get("start"), "start", 0, MAX_MS), _int(item.get("end"), "end", 0, MAX_MS)
        if not start < end <= start + MAX_WINDOW_MS:
            raise _invalid("a window's 'end' must follow its 'start', by at most 7 days")
        windows.append((start, end))
    return tuple(sorted(windows))


def one_line(value: Any, name: str, max_chars: int) -> str:
    """A non-empty single line of at most ``max_chars``, with a visible character; shared with
    the HTTP API."""
    if not isinstance(value, str) or not value:
        raise _invalid(f"'{name}' must be a non-empty string")
    if len(value) > max_chars:
        raise _invalid(f"'{name}' is longer than {max_chars} characters")
    if NOT_IN_ONE_LINE.search(value):
        raise _invalid(f"'{name}' must be one line, without control or bidi characters")
    if not visible(value):
        raise _invalid(f"'{name}' must have a visible character")
    return value


def note_text(value: Any) -> str | None:
    """An outcome's note: optional, several lines allowed, the controls of ``send`` refused."""
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_NOTE_CHARS:
        raise _invalid(f"'note' must be a non-empty string of at most {MAX_NOTE_CHARS} characters")
    if FORBIDDEN_IN_TEXT.search(value):
        raise _invalid("'note' must not contain control characters other than tab and newline")
    return value


def _record(f: dict[str, Any], name: str) -> str:
    return _string(f, name, MAX_RECORD_ID_CHARS)


def _parse_callback_request(rid: Any, f: dict[str, Any], limits: Any) -> Request:
    if f.get("reason") is None:
        raise _invalid("'reason' is required")
    reason = one_line(f.get("reason"), "reason", MAX_REASON_CHARS)
    channel = _enum(CallbackChannel, f, "channel")
    if channel is None:
        raise _invalid("'channel' is required: video or phone")
    return CallbackRequest(rid, reason, channel, parse_windows(f.get("windows")))


def outcome_fields(f: dict[str, Any]) -> tuple[CallbackOutcome, str | None, tuple[tuple[int, int], ...] | None]:
    """An outcome's ``outcome``, ``note`` and (rescheduled) ``windows``; shared with the HTTP API."""
    outcome = _enum(CallbackOutcome, f, "outcome")
    if outcome is None:
        raise _invalid("'outcome' is required: done, no_answer or rescheduled")
    windows = parse_windows(f.get("windows")) if outcome is CallbackOutcome.RESCHEDULED else None
    return outcome, note_text(f.get("note")), windows


def _parse_outcome(rid: Any, f: dict[str, Any], limits: Any) -> Request:
    outcome, note, windows = outcome_fields(f)
    return CallbackOutcomeRequest(rid, _record(f, "callback"), outcome, note, windows)


def _parse_appointment(rid: Any, f: dict[str, Any], limits: Any) -> Request:
    jobseeker = _string(f, "jobseeker", MAX_USER_CHARS)
    return AppointmentCreate(rid, jobseeker, _int(f.get("start"), "start", 0, MAX_MS),
                             _int(f.get("duration_min"), "duration_min", 1, 24 * 60))


WORKFLOW_PARSERS = {
    "callback_request": _parse_callback_request,
    "callback_cancel": lambda rid, f, lim: CallbackCancel(rid, _record(f, "callback")),
    "callback_claim": lambda rid, f, lim: CallbackClaim(rid, _record(f, "callback")),
    "callback_outcome": _parse_outcome,
    "callbacks": lambda rid, f, lim: ListCallbacks(rid, _string(f, "advisor", MAX_USER_CHARS, required=False)),
    "appointment_create": _parse_appointment,
    "appointment_cancel": lambda rid, f, lim: AppointmentCancel(rid, _record(f, "appointment")),
    "appointment_join": lambda rid, f, lim: AppointmentJoin(rid, _record(f, "appointment")),
    "appointments": lambda rid, f, lim: ListAppointments(rid),
    "followup": lambda rid, f, lim: GetFollowUp(rid),
    "followup_opt_out": lambda rid, f, lim: FollowUpOptOut(rid),
    "followup_opt_in": lambda rid, f, lim: FollowUpOptIn(rid),
}
