"""Client requests: validated, typed, and free of I/O.

``parse_request`` turns one decoded frame into one request dataclass or raises ``BadRequest``
with the code the client should see. Limits that depend on configuration come in ``Limits``.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, Literal, overload

from ..errors import BadRequest, ErrorCode
from ..text import FORBIDDEN_IN_TEXT, visible

__all__ = [
    "Auth", "Availability", "History", "Join", "Leave", "Limits", "ListRooms", "Ping", "PresenceStatus",
    "Read", "Request", "Send", "SetPresence", "Typing", "parse_request",
]

MAX_ID_CHARS = 64
MAX_ROOM_CHARS = 128
MAX_KEY_CHARS = 64
MAX_TOKEN_CHARS = 8192


class PresenceStatus(enum.StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


class Availability(enum.StrEnum):
    """What an advisor tells jobseekers about being reachable now."""

    AVAILABLE = "available"
    BUSY = "busy"  # in an interview
    AWAY = "away"


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    max_text_chars: int = 4000
    history_page_max: int = 200


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    id: str | int | None


@dataclasses.dataclass(frozen=True, slots=True)
class Auth(Request):
    token: str


@dataclasses.dataclass(frozen=True, slots=True)
class Join(Request):
    room: str
    after: int | None  # last offset the client saw; None: no resume, just the live stream
    epoch: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class Leave(Request):
    room: str


@dataclasses.dataclass(frozen=True, slots=True)
class Send(Request):
    room: str
    text: str
    key: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class Typing(Request):
    room: str
    active: bool


class CallSignalKind(enum.StrEnum):
    """What a page tells the others of a conversation about its video interview (not stored)."""

    RINGING = "ringing"  # in the interview, waiting for the others: their pages ring
    CANCELLED = "cancelled"  # left before anybody answered: stop ringing
    DECLINED = "declined"  # the ringing page said no
    DEVICES_REFUSED = "devices_refused"  # the page could not start its camera or microphone


class CallDevices(enum.StrEnum):
    """Which devices a ``devices_refused`` signal is about."""

    CAMERA = "camera"
    MICROPHONE = "microphone"
    BOTH = "both"


@dataclasses.dataclass(frozen=True, slots=True)
class CallSignal(Request):
    room: str
    signal: CallSignalKind
    devices: CallDevices | None


@dataclasses.dataclass(frozen=True, slots=True)
class Read(Request):
    room: str
    offset: int


@dataclasses.dataclass(frozen=True, slots=True)
class History(Request):
    room: str
    before: int | None
    limit: int


@dataclasses.dataclass(frozen=True, slots=True)
class SetPresence(Request):
    status: PresenceStatus | None
    availability: Availability | None


@dataclasses.dataclass(frozen=True, slots=True)
class Ping(Request):
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class ListRooms(Request):
    pass


def _invalid(message: str) -> BadRequest:
    return BadRequest(message, code=ErrorCode.INVALID_MESSAGE)


# A required field never comes back None: the overloads say so to the type checker.
@overload
def _string(frame: dict[str, Any], name: str, max_chars: int, *, required: Literal[True] = True) -> str: ...
@overload
def _string(frame: dict[str, Any], name: str, max_chars: int, *, required: bool) -> str | None: ...
def _string(frame: dict[str, Any], name: str, max_chars: int, *, required: bool = True) -> str | None:
    value = frame.get(name)
    if value is None:
        if required:
            raise _invalid(f"'{name}' is required")
        return None
    if not isinstance(value, str) or not value:
        raise _invalid(f"'{name}' must be a non-empty string")
    if len(value) > max_chars:
        raise _invalid(f"'{name}' is longer than {max_chars} characters")
    return value


@overload
def _offset(frame: dict[str, Any], name: str, *, required: Literal[True]) -> int: ...
@overload
def _offset(frame: dict[str, Any], name: str, *, required: bool) -> int | None: ...
def _offset(frame: dict[str, Any], name: str, *, required: bool) -> int | None:
    value = frame.get(name)
    if value is None:
        if required:
            raise _invalid(f"'{name}' is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value >= 2**63:
        raise _invalid(f"'{name}' must be a non-negative integer")
    return value


def _enum(kind: type[enum.StrEnum], frame: dict[str, Any], name: str) -> Any:
    value = frame.get(name)
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise _invalid(f"'{name}' must be one of: {allowed}") from None


def request_id(frame: object) -> str | int | None:
    """The id to echo, or None when the frame carries no usable one."""
    if not isinstance(frame, dict):
        return None
    value = frame.get("id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int) or (isinstance(value, str) and len(value) <= MAX_ID_CHARS):
        return value
    return None


def _parse_join(rid: Any, f: dict[str, Any], limits: Limits) -> Request:
    room = _string(f, "room", MAX_ROOM_CHARS)
    epoch = _string(f, "epoch", 64, required=False)
    return Join(rid, room, _offset(f, "after", required=False), epoch)


def _parse_send(rid: Any, f: dict[str, Any], limits: Limits) -> Request:
    room = _string(f, "room", MAX_ROOM_CHARS)
    text = f.get("text")
    if not isinstance(text, str):
        raise _invalid("'text' must be a non-empty string")
    if len(text) > limits.max_text_chars:  # first: what follows reads the text
        raise BadRequest(f"'text' is longer than {limits.max_text_chars} characters", code=ErrorCode.MESSAGE_TOO_LARGE)
    if not visible(text):
        raise _invalid("'text' must have a visible character (not only spaces or zero-width characters)")
    if FORBIDDEN_IN_TEXT.search(text):
        raise _invalid("'text' must not contain control characters other than tab and newline")
    return Send(rid, room, text, _string(f, "key", MAX_KEY_CHARS, required=False))


def _parse_typing(rid: Any, f: dict[str, Any], limits: Limits) -> Request:
    active = f.get("active", True)
    if not isinstance(active, bool):
        raise _invalid("'active' must be true or false")
    return Typing(rid, _string(f, "room", MAX_ROOM_CHARS), active)


def _parse_call(rid: Any, f: dict[str, Any], limits: Limits) -> Request:
    room = _string(f, "room", MAX_ROOM_CHARS)
    signal = _enum(CallSignalKind, f, "signal")
    if signal is None:
        raise _invalid("'signal' is required")
    devices = _enum(CallDevices, f, "devices")
    if (devices is None) != (signal is not CallSignalKind.DEVICES_REFUSED):
        raise _invalid("'devices' goes with the devices_refused signal, and only with it")
    return CallSignal(rid, room, signal, devices)


def _parse_history(rid: Any, f: dict[str, Any], limits: Limits) -> Request:
    limit = f.get("limit", 50)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= limits.history_page_max:
        raise _invalid(f"'limit' must be an integer from 1 to {limits.history_page_max}")
    room = _string(f, "room", MAX_ROOM_CHARS)
    return History(rid, room, _offset(f, "before", required=False), limit)


def _parse_presence(rid: Any, f: dict[str, Any], limits: Limits) -> Request:
    status = _enum(PresenceStatus, f, "status")
    if status is PresenceStatus.OFFLINE:
        raise _invalid("'status' offline is set by disconnecting; send online or away")
    availability = _enum(Availability, f, "availability")
    if status is None and availability is None:
        raise _invalid("give 'status' or 'availability'")
    return SetPresence(rid, status, availability)


from .media import MEDIA_PARSERS  # noqa: E402  (media requests build on the classes above)
from .precall import PRECALL_PARSERS  # noqa: E402  (and the pre-call check's)
from .workflow import WORKFLOW_PARSERS  # noqa: E402  (so do the follow-up workflow's)

_PARSERS = {
    "auth": lambda rid, f, lim: Auth(rid, _string(f, "token", MAX_TOKEN_CHARS)),
    "join": _parse_join,
    "leave": lambda rid, f, lim: Leave(rid, _string(f, "room", MAX_ROOM_CHARS)),
    "send": _parse_send,
    "typing": _parse_typing,
    "call": _parse_call,
    "read": lambda rid, f, lim: Read(rid, _string(f, "room", MAX_ROOM_CHARS), _offset(f, "offset", required=True)),
    "history": _parse_history,
    "presence": _parse_presence,
    "ping": lambda rid, f, lim: Ping(rid),
    "rooms": lambda rid, f, lim: ListRooms(rid),
    **MEDIA_PARSERS,
    **WORKFLOW_PARSERS,
    **PRECALL_PARSERS,
}

REQUEST_TYPES = frozenset(_PARSERS)


def parse_request(frame: object, limits: Limits) -> Request:
    if not isinstance(frame, dict):
        raise _invalid("a request must be an object with a 'type'")
    kind = frame.get("type")
    if not isinstance(kind, str):
        raise _invalid("'type' is required")
    parser = _PARSERS.get(kind)
    if parser is None:
        raise BadRequest(f"unknown request type {kind[:40]!r}", code=ErrorCode.UNKNOWN_TYPE)
    return parser(request_id(frame), frame, limits)
