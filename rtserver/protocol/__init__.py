"""The wire protocol, as pure code: codecs, frames, request parsing, per-connection state."""

from .codec import CODECS, JSON, MSGPACK, Codec, negotiate
from .frames import build_frame
from .requests import (
    Auth,
    Availability,
    CallSignal,
    History,
    Join,
    Leave,
    Limits,
    ListRooms,
    Ping,
    PresenceStatus,
    Read,
    Request,
    Send,
    SetPresence,
    Typing,
    parse_request,
    request_id,
)
from .session import Session, SessionState, TokenBucket, ViolationWindow

__all__ = [
    "CODECS", "JSON", "MSGPACK", "Auth", "Availability", "CallSignal", "Codec", "History", "Join", "Leave", "Limits",
    "ListRooms", "Ping", "PresenceStatus", "Read", "Request", "Send", "Session", "SessionState", "SetPresence",
    "TokenBucket", "Typing", "ViolationWindow", "build_frame", "negotiate", "parse_request", "request_id",
]
