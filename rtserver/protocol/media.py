"""Media (video interview) signalling requests: validated, typed, and free of I/O.

Each parser takes the request id, the decoded frame and the ``Limits`` (same signature as the
chat parsers in ``requests.py``, which registers them in its ``_PARSERS`` table) and returns a
frozen dataclass or raises ``BadRequest``. What the requests do is in ``docs/media.md``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from typing import Any

from ..errors import BadRequest, ErrorCode
from ..ids import USER_ID
from .measurements import MAX_KBPS, MeasurementError, Section, Validator, boolean, number, one_of, text
from .requests import MAX_ROOM_CHARS, Request, _invalid, _string

__all__ = [
    "MAX_REPORT_ENTRIES", "MEDIA_PARSERS", "MEDIA_REPORT", "REPORT_MIN_INTERVAL_MS", "IceCandidateInit",
    "MediaAnswer", "MediaCandidate", "MediaInvite", "MediaJoin", "MediaLeave", "MediaOffer", "MediaReceive",
    "MediaReport", "MediaRequest", "MediaRestart", "MediaStats", "PcRole", "ReceiveFigures", "SendFigures",
    "media_frame",
]

MAX_SDP_CHARS = 65_536
MAX_CANDIDATE_CHARS = 1_024
MAX_MID_CHARS = 32
MAX_USER_CHARS = 128
MIN_STATS_EVERY_MS = 500
MAX_STATS_EVERY_MS = 60_000
# media_report: one entry per (publisher, kind) a client receives. An interview has at most 4
# participants (3 others x 2 kinds = 6); 16 leaves room for screen shares and a larger room.
MAX_REPORT_ENTRIES = 16
# Clients report every report_every_ms (2000 by default, 500 at the least): a report is a window
# of figures, and one every 500 ms is as fine as a browser's stats are useful. The connection's
# own budget (rtserver.protocol.session) refuses more than that, bursts of 2 aside.
REPORT_MIN_INTERVAL_MS = 500
MAX_REPORT_FPS = 240.0  # no camera or decoder goes beyond; 1000 would be a broken measurement
MAX_REPORT_WINDOW_MS = 600_000.0  # a frozen time longer than ten minutes is a broken measurement
SEND_LIMITS = ("none", "bandwidth", "cpu", "other")  # Chromium's qualityLimitationReason


class PcRole(enum.StrEnum):
    """Which of a participant's two peer connections a request is about."""

    PUBLISH = "publish"  # the client sends its camera and microphone; the client offers
    SUBSCRIBE = "subscribe"  # the server sends the others' media; the server offers


@dataclasses.dataclass(frozen=True, slots=True)
class IceCandidateInit:
    """A trickled ICE candidate (the browser's ``RTCIceCandidateInit``, in snake_case)."""

    candidate: str  # the a=candidate value, with or without its "candidate:" prefix
    sdp_mid: str | None
    sdp_mline_index: int | None


@dataclasses.dataclass(frozen=True, slots=True)
class MediaJoin(Request):
    room: str


@dataclasses.dataclass(frozen=True, slots=True)
class MediaLeave(Request):
    room: str


@dataclasses.dataclass(frozen=True, slots=True)
class MediaOffer(Request):
    """An offer for the publish connection (first one, renegotiation, or ICE restart)."""

    room: str
    sdp: str
    restart: bool  # the client built a fresh RTCPeerConnection (or restarted ICE): replace the server's


@dataclasses.dataclass(frozen=True, slots=True)
class MediaAnswer(Request):
    """The client's answer to the server's last ``media_offer`` for the subscribe connection."""

    room: str
    sdp: str


@dataclasses.dataclass(frozen=True, slots=True)
class MediaCandidate(Request):
    room: str
    pc: PcRole
    candidate: IceCandidateInit | None  # None: end of candidates


@dataclasses.dataclass(frozen=True, slots=True)
class MediaRestart(Request):
    """Ask for a fresh subscribe connection (ICE restart of the server-offered side)."""

    room: str


@dataclasses.dataclass(frozen=True, slots=True)
class MediaStats(Request):
    room: str
    every_ms: int | None  # None: one snapshot; 0: stop periodic events; else: also send one every N ms


@dataclasses.dataclass(frozen=True, slots=True)
class MediaReceive(Request):
    """What the participant wants to receive from the others (audio-only on a weak link)."""

    room: str
    video: bool


@dataclasses.dataclass(frozen=True, slots=True)
class ReceiveFigures:
    """What a client received from one publisher's track over the window since its last report."""

    user: str
    kind: str  # audio or video
    fps: float | None = None  # frames decoded per second (video)
    frozen_ms: float | None = None  # time the picture was frozen in the window (video)
    loss: float | None = None  # fraction of packets lost, before retransmission
    kbps: float | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class SendFigures:
    """What a client sends: whether its camera video goes out, and what limits its encoder."""

    video: bool | None = None
    kbps: float | None = None
    limited: str | None = None  # none, bandwidth, cpu, other


@dataclasses.dataclass(frozen=True, slots=True)
class MediaReport(Request):
    """A participant's view of its own media over the last window (see docs/media.md)."""

    room: str
    receive: tuple[ReceiveFigures, ...] = ()
    send: SendFigures | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class MediaInvite(Request):
    """An advisor lets a third party (an interpreter) join this interview."""

    room: str
    user: str


def _text(frame: dict[str, Any], name: str, max_chars: int, *, allow_empty: bool = False) -> str:
    value = frame.get(name)
    if not isinstance(value, str) or (not value and not allow_empty):
        raise _invalid(f"'{name}' must be a non-empty string")
    if len(value) > max_chars:
        raise BadRequest(f"'{name}' is longer than {max_chars} characters", code=ErrorCode.MESSAGE_TOO_LARGE
                         if name == "sdp" else ErrorCode.INVALID_MESSAGE)
    return value


def _room(frame: dict[str, Any]) -> str:
    return _string(frame, "room", MAX_ROOM_CHARS)


def _sdp(frame: dict[str, Any]) -> str:
    sdp = _text(frame, "sdp", MAX_SDP_CHARS)
    if not sdp.startswith("v=0"):
        raise _invalid("'sdp' must be a session description starting with v=0")
    return sdp


def _flag(frame: dict[str, Any], name: str) -> bool:
    value = frame.get(name, False)
    if not isinstance(value, bool):
        raise _invalid(f"'{name}' must be true or false")
    return value


def _required_flag(frame: dict[str, Any], name: str) -> bool:
    if name not in frame:
        raise _invalid(f"'{name}' is required (true or false)")
    return _flag(frame, name)


def _pc(frame: dict[str, Any]) -> PcRole:
    value: Any = frame.get("pc")  # a missing pc is refused like a wrong one: PcRole(None) raises ValueError
    try:
        return PcRole(value)
    except ValueError:
        raise _invalid("'pc' must be publish or subscribe") from None


def _candidate(frame: dict[str, Any]) -> IceCandidateInit | None:
    if "candidate" not in frame:
        raise _invalid("'candidate' is required (null marks the end of candidates)")
    value = frame["candidate"]
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _invalid("'candidate' must be an object {candidate, sdp_mid, sdp_mline_index} or null")
    text = _text(value, "candidate", MAX_CANDIDATE_CHARS, allow_empty=True)
    if not text:
        return None  # browsers signal the end of candidates with an empty candidate string
    mid = value.get("sdp_mid")
    if mid is not None and (not isinstance(mid, str) or not mid or len(mid) > MAX_MID_CHARS):
        raise _invalid(f"'sdp_mid' must be a string of 1 to {MAX_MID_CHARS} characters or null")
    index = value.get("sdp_mline_index")
    if index is not None and (isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 1024):
        raise _invalid("'sdp_mline_index' must be a small non-negative integer or null")
    if mid is None and index is None:
        raise _invalid("a candidate needs 'sdp_mid' or 'sdp_mline_index'")
    if len(text.removeprefix("candidate:").split()) < 8:
        raise _invalid("'candidate' is not an ICE candidate line")
    return IceCandidateInit(text, mid, index)


def _every_ms(frame: dict[str, Any]) -> int | None:
    value = frame.get("every_ms")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or (
            value != 0 and not MIN_STATS_EVERY_MS <= value <= MAX_STATS_EVERY_MS):
        raise _invalid(f"'every_ms' must be 0 (stop) or from {MIN_STATS_EVERY_MS} to {MAX_STATS_EVERY_MS}")
    return value


def _entries(maximum: int, entry: Section) -> Validator:
    """A list of at most ``maximum`` objects, each checked by ``entry`` (named ``where[i]``)."""
    def check(where: str, value: Any) -> list[dict[str, Any]]:
        if not isinstance(value, list) or len(value) > maximum:
            raise MeasurementError(f"'{where}' must be a list of at most {maximum} entries")
        return [entry(f"{where}[{i}]", item) for i, item in enumerate(value)]
    return check


_FRACTION = number(0, 1)
# The media_report schema (docs/media.md): each known field checked, unknown ones dropped unread.
MEDIA_REPORT = Section({
    "receive": _entries(MAX_REPORT_ENTRIES, Section(
        {"user": text(128, USER_ID), "kind": one_of("audio", "video"), "fps": number(0, MAX_REPORT_FPS),
         "frozen_ms": number(0, MAX_REPORT_WINDOW_MS), "loss": _FRACTION, "kbps": number(0, MAX_KBPS)},
        required=("user", "kind"))),
    "send": Section({"video": boolean, "kbps": number(0, MAX_KBPS), "limited": one_of(*SEND_LIMITS)}),
})


def _report(rid: str | int | None, frame: dict[str, Any]) -> MediaReport:
    room = _room(frame)
    try:
        clean = MEDIA_REPORT("", frame)
    except MeasurementError as exc:
        raise _invalid(str(exc)) from None
    receive = tuple(ReceiveFigures(**entry) for entry in clean.get("receive") or ())
    send = clean.get("send")
    return MediaReport(rid, room, receive, None if send is None else SendFigures(**send))


MEDIA_PARSERS: dict[str, Callable[[Any, dict[str, Any], Any], MediaRequest]] = {
    "media_join": lambda rid, f, lim: MediaJoin(rid, _room(f)),
    "media_leave": lambda rid, f, lim: MediaLeave(rid, _room(f)),
    "media_offer": lambda rid, f, lim: MediaOffer(rid, _room(f), _sdp(f), _flag(f, "restart")),
    "media_answer": lambda rid, f, lim: MediaAnswer(rid, _room(f), _sdp(f)),
    "media_candidate": lambda rid, f, lim: MediaCandidate(rid, _room(f), _pc(f), _candidate(f)),
    "media_restart": lambda rid, f, lim: MediaRestart(rid, _room(f)),
    "media_stats": lambda rid, f, lim: MediaStats(rid, _room(f), _every_ms(f)),
    "media_invite": lambda rid, f, lim: MediaInvite(rid, _room(f), _text(f, "user", MAX_USER_CHARS)),
    "media_receive": lambda rid, f, lim: MediaReceive(rid, _room(f), _required_flag(f, "video")),
    "media_report": lambda rid, f, lim: _report(rid, f),
}


MediaRequest = (MediaJoin | MediaLeave | MediaOffer | MediaAnswer | MediaCandidate | MediaRestart | MediaStats
                | MediaInvite | MediaReceive | MediaReport)

_TYPES: dict[type, str] = {
    MediaJoin: "media_join", MediaLeave: "media_leave", MediaOffer: "media_offer", MediaAnswer: "media_answer",
    MediaCandidate: "media_candidate", MediaRestart: "media_restart", MediaStats: "media_stats",
    MediaInvite: "media_invite", MediaReceive: "media_receive", MediaReport: "media_report",
}


def media_frame(request: MediaRequest) -> dict[str, Any]:
    """The request as the frame a client would have sent: ``MEDIA_PARSERS`` reads it back unchanged.

    Used to hand a request to the node hosting the interview, which parses it like any other.
    """
    frame: dict[str, Any] = {"type": _TYPES[type(request)]}
    for field in dataclasses.fields(request):
        value = getattr(request, field.name)
        if isinstance(value, IceCandidateInit):
            value = dataclasses.asdict(value)
        elif isinstance(value, SendFigures):
            value = _present(value)
        elif isinstance(value, tuple):  # a report's receive entries
            value = [_present(entry) for entry in value]
        elif isinstance(value, enum.Enum):
            value = value.value
        if value is not None or field.name == "candidate":
            frame[field.name] = value
    return frame


def _present(figures: ReceiveFigures | SendFigures) -> dict[str, Any]:
    """The figures given (absent ones left out, as the client left them out)."""
    return {k: v for k, v in dataclasses.asdict(figures).items() if v is not None}
