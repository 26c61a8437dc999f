"""Every frame the server sends, built in one place: one constructor per event and per reply.

Two kinds of frames go from the server to a client (docs/protocol.md, media.md, workflow.md,
precall.md):

- **events** (``EVENTS``), sent on the server's own initiative: a message stored, someone
  typing, a peer connection's state, a callback claimed... Room events carry their ``room``.
- **replies** (``REPLIES``), the one answer to a request, carrying its ``id`` (possibly null).

Each constructor returns the plain dict the codec writes, with the keys in the order the
server has always sent them (the JSON bytes are unchanged). Plain functions rather than
dataclasses with a ``to_wire()``: a chat ``message`` is built once per send and encoded once
per room (``Hub``), so a typed object would only add an allocation and a copy on the hot path.
A field documented as optional (``key?``) is left out, never sent as null; a field without
``?`` is always present, null where the docs say so (``hello.id``, ``followup.followup``).

The registries say which fields each type has; tests/unit/protocol/test_protocol_events.py holds them against
the constructors and against the documents' event and reply tables, and checks that no other
module builds a server frame. Pure: no I/O, no import of the rest of the server.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

__all__ = [
    "EVENTS", "REPLIES", "Shape", "ack_reply", "appointment", "appointment_reminder", "appointment_reply",
    "appointments_reply", "call", "callback", "callback_reply", "callbacks_reply", "error", "error_of", "followup",
    "followup_reply", "hello_reply", "history_reply", "joined_reply", "media_answer_reply", "media_closed",
    "media_connection", "media_fallback", "media_joined_reply", "media_link", "media_offer", "media_participant",
    "media_stats", "media_stats_reply", "media_tracks", "member", "message", "ok_reply", "pong_reply",
    "portfolio_reply", "precall", "precall_result_reply", "precall_results_reply", "presence", "read",
    "rooms_reply", "typing",
]

Event = dict[str, Any]
Constructor = Callable[..., Event]


@dataclasses.dataclass(frozen=True)
class Shape:
    """The fields of one frame type besides ``type``: always present, and present only sometimes."""

    type: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    build: Constructor


EVENTS: dict[str, Shape] = {}
REPLIES: dict[str, Shape] = {}


def _register(registry: dict[str, Shape], type_: str, fields: str) -> Callable[[Constructor], Constructor]:
    names = fields.split()

    def add(build: Constructor) -> Constructor:
        if type_ in registry:
            raise ValueError(f"two constructors for {type_!r}")
        registry[type_] = Shape(type_, tuple(n for n in names if not n.endswith("?")),
                                tuple(n[:-1] for n in names if n.endswith("?")), build)
        return build  # unwrapped: registering costs nothing per call
    return add


def _event(type_: str, fields: str) -> Callable[[Constructor], Constructor]:
    return _register(EVENTS, type_, fields)


def _reply(type_: str, fields: str) -> Callable[[Constructor], Constructor]:
    return _register(REPLIES, type_, "id " + fields)


# -- chat and presence (docs/protocol.md) --------------------------------------------------------
@_event("message", "room offset ts from name text key? data?")
def message(room: str, offset: int, ts: int, sender: str, name: str, text: str, key: str | None = None,
            data: dict[str, Any] | None = None) -> Event:
    event = {"type": "message", "room": room, "offset": offset, "ts": ts, "from": sender, "name": name,
             "text": text}
    if key is not None:
        event["key"] = key
    if data is not None:  # a notice's facts for the page to render (an appointment's instant), never a person's
        event["data"] = data
    return event


@_event("typing", "room user name active ttl_ms")
def typing(room: str, user: str, name: str, active: bool, ttl_ms: int) -> Event:
    return {"type": "typing", "room": room, "user": user, "name": name, "active": active, "ttl_ms": ttl_ms}


@_event("call", "room user name signal devices?")
def call(room: str, user: str, name: str, signal: str, devices: str | None = None) -> Event:
    """A page's word about its video interview (ringing, declined...): relayed, never stored."""
    out: Event = {"type": "call", "room": room, "user": user, "name": name, "signal": signal}
    if devices is not None:
        out["devices"] = devices
    return out


@_event("read", "room user offset")
def read(room: str, user: str, offset: int) -> Event:
    return {"type": "read", "room": room, "user": user, "offset": offset}


@_event("member", "room user name? event")
def member(room: str, user: str, event: str, name: str | None = None) -> Event:
    """``name`` for ``joined`` and ``left``; a ``removed`` member's name is not at hand on every node."""
    out: Event = {"type": "member", "room": room, "user": user}
    if name is not None:
        out["name"] = name
    out["event"] = event
    return out


@_event("presence", "room user status availability?")
def presence(room: str, user: str, status: str, availability: str | None = None) -> Event:
    event = {"type": "presence", "room": room, "user": user, "status": status}
    if availability is not None:
        event["availability"] = availability
    return event


@_event("error", "code message id? retry_after_ms?")
def error(code: str, message: str, request_id: object = None, retry_after_ms: int | None = None) -> Event:
    """A request failed (``id``: the request's, when it had one); ``RtError`` gives the fields."""
    event: Event = {"type": "error", "code": str(code), "message": message}
    if request_id is not None:
        event["id"] = request_id
    if retry_after_ms is not None:
        event["retry_after_ms"] = retry_after_ms
    return event


def error_of(exc: Any, request_id: object = None) -> Event:
    """The ``error`` event of an ``RtError`` (its ``code``, ``message`` and ``retry_after_ms``)."""
    return error(exc.code, exc.message, request_id, exc.retry_after_ms)


@_reply("ok", "offset? expires?")
def ok_reply(request_id: object, *, offset: int | None = None, expires: int | None = None) -> Event:
    """``offset``: the stored read receipt (``read``); ``expires``: a refreshed token's expiry (``auth``)."""
    reply: Event = {"type": "ok", "id": request_id}
    if offset is not None:
        reply["offset"] = offset
    if expires is not None:
        reply["expires"] = expires
    return reply


@_reply("hello", "user role name session node server_time expires rooms limits")
def hello_reply(request_id: object, user: str, role: str, name: str, session: str, node: str, server_time: int,
                expires: int, rooms: list[Any], limits: dict[str, Any]) -> Event:
    return {"type": "hello", "id": request_id, "user": user, "role": role, "name": name, "session": session,
            "node": node, "server_time": server_time, "expires": expires, "rooms": rooms, "limits": limits}


@_reply("pong", "server_time")
def pong_reply(request_id: object, server_time: int) -> Event:
    return {"type": "pong", "id": request_id, "server_time": server_time}


@_reply("joined", "room kind title role epoch head read unread members? reset? replay truncated")
def joined_reply(request_id: object, room: str, kind: str, title: str, role: str, epoch: str, head: int, read: int,
                 replay: int, truncated: bool, *, members: list[Any] | None = None, reset: bool = False) -> Event:
    """``members`` for conversations and groups (not broadcast rooms); ``reset`` only when true."""
    reply: Event = {"type": "joined", "id": request_id, "room": room, "kind": kind, "title": title,
                    "role": role, "epoch": epoch, "head": head, "read": read, "unread": max(0, head - read)}
    if members is not None:
        reply["members"] = members
    if reset:
        reply["reset"] = True
    reply["replay"] = replay
    reply["truncated"] = truncated
    return reply


@_reply("ack", "room offset ts duplicate?")
def ack_reply(request_id: object, room: str, offset: int, ts: int, *, duplicate: bool = False) -> Event:
    reply: Event = {"type": "ack", "id": request_id, "room": room, "offset": offset, "ts": ts}
    if duplicate:
        reply["duplicate"] = True
    return reply


@_reply("history", "room more messages")
def history_reply(request_id: object, room: str, more: bool, messages: list[Event]) -> Event:
    return {"type": "history", "id": request_id, "room": room, "more": more, "messages": messages}


@_reply("rooms", "rooms")
def rooms_reply(request_id: object, rooms: list[dict[str, Any]]) -> Event:
    return {"type": "rooms", "id": request_id, "rooms": rooms}


# -- video interviews (docs/media.md) ------------------------------------------------------------
@_event("media_offer", "room pc sdp tracks restart")
def media_offer(room: str, sdp: str, tracks: list[dict[str, Any]], restart: bool) -> Event:
    """The node's offer on the subscribe connection (the only one it offers on)."""
    return {"type": "media_offer", "room": room, "pc": "subscribe", "sdp": sdp, "tracks": tracks,
            "restart": restart}


@_event("media_participant", "room user name role event reason? timeout_ms?")
def media_participant(room: str, user: str, name: str, role: str, event: str, *, reason: str | None = None,
                      timeout_ms: int | None = None) -> Event:
    """``reason`` with ``left``, ``timeout_ms`` with ``dropped``."""
    out: Event = {"type": "media_participant", "room": room, "user": user, "name": name, "role": role,
                  "event": event}
    if reason is not None:
        out["reason"] = reason
    if timeout_ms is not None:
        out["timeout_ms"] = timeout_ms
    return out


@_event("media_tracks", "room user tracks")
def media_tracks(room: str, user: str, tracks: list[dict[str, Any]]) -> Event:
    return {"type": "media_tracks", "room": room, "user": user, "tracks": tracks}


@_event("media_connection", "room pc state")
def media_connection(room: str, pc: str, state: str) -> Event:
    return {"type": "media_connection", "room": room, "pc": pc, "state": state}


@_event("media_stats", "room participants probe?")
def media_stats(room: str, participants: list[dict[str, Any]], probe: dict[str, Any] | None = None) -> Event:
    """The periodic statistics; ``probe`` in a pre-call echo room (docs/precall.md)."""
    event: Event = {"type": "media_stats", "room": room, "participants": participants}
    if probe is not None:
        event["probe"] = probe
    return event


@_event("media_link", "room links")
def media_link(room: str, links: list[dict[str, Any]]) -> Event:
    return {"type": "media_link", "room": room, "links": links}


@_event("media_fallback", "room user direction video reason")
def media_fallback(room: str, user: str, direction: str, video: bool, reason: str) -> Event:
    return {"type": "media_fallback", "room": room, "user": user, "direction": direction, "video": video,
            "reason": reason}


@_event("media_closed", "room reason")
def media_closed(room: str, reason: str) -> Event:
    return {"type": "media_closed", "room": room, "reason": reason}


@_reply("media_joined", "room user role resumed participants tracks ice_servers drop_timeout_ms report_every_ms")
def media_joined_reply(request_id: object, room: str, user: str, role: str, resumed: bool,
                       participants: list[dict[str, Any]], tracks: list[dict[str, Any]],
                       ice_servers: list[dict[str, Any]], drop_timeout_ms: int, report_every_ms: int) -> Event:
    return {"type": "media_joined", "id": request_id, "room": room, "user": user, "role": role, "resumed": resumed,
            "participants": participants, "tracks": tracks, "ice_servers": ice_servers,
            "drop_timeout_ms": drop_timeout_ms, "report_every_ms": report_every_ms}


@_reply("media_answer", "room pc sdp tracks")
def media_answer_reply(request_id: object, room: str, sdp: str, tracks: list[dict[str, Any]]) -> Event:
    """The node's answer on the publish connection (the only one the client offers on)."""
    return {"type": "media_answer", "id": request_id, "room": room, "pc": "publish", "sdp": sdp, "tracks": tracks}


@_reply("media_stats", "room participants probe?")
def media_stats_reply(request_id: object, room: str, participants: list[dict[str, Any]],
                      probe: dict[str, Any] | None = None) -> Event:
    reply: Event = {"type": "media_stats", "id": request_id, "room": room, "participants": participants}
    if probe is not None:
        reply["probe"] = probe
    return reply


# -- pre-call check (docs/precall.md) ------------------------------------------------------------
@_event("precall", "user result room")
def precall(room: str, user: str, result: dict[str, Any]) -> Event:
    """A jobseeker's new check, to the follow-up conversation (``room`` last, as it always came)."""
    return {"type": "precall", "user": user, "result": result, "room": room}


@_reply("precall_result", "result")
def precall_result_reply(request_id: object, result: dict[str, Any]) -> Event:
    return {"type": "precall_result", "id": request_id, "result": result}


@_reply("precall_results", "user results")
def precall_results_reply(request_id: object, user: str, results: list[dict[str, Any]]) -> Event:
    return {"type": "precall_results", "id": request_id, "user": user, "results": results}


# -- follow-up workflow (docs/workflow.md) -------------------------------------------------------
# The live events are published into the follow-up conversation; ``room`` comes last in each, as
# it did when the notifier added it to the event it was given.
@_event("callback", "event callback room")
def callback(room: str, event: str, callback: dict[str, Any]) -> Event:
    return {"type": "callback", "event": event, "callback": callback, "room": room}


@_event("appointment", "event user? appointment room")
def appointment(room: str, event: str, appointment: dict[str, Any], *, user: str | None = None) -> Event:
    """``user``: who joined, with ``joined``."""
    out: Event = {"type": "appointment", "event": event}
    if user is not None:
        out["user"] = user
    out["appointment"] = appointment
    out["room"] = room
    return out


@_event("appointment_reminder", "starts_in_s lead_s appointment room")
def appointment_reminder(room: str, starts_in_s: int, lead_s: int, appointment: dict[str, Any]) -> Event:
    return {"type": "appointment_reminder", "starts_in_s": starts_in_s, "lead_s": lead_s,
            "appointment": appointment, "room": room}


@_event("followup", "event from? followup room")
def followup(room: str, event: str, followup: dict[str, Any], *, previous: str | None = None) -> Event:
    """``previous`` (``from`` on the wire): the advisor a ``transferred`` follow-up left."""
    out: Event = {"type": "followup", "event": event}
    if previous is not None:
        out["from"] = previous
    out["followup"] = followup
    out["room"] = room
    return out


@_reply("callback", "callback")
def callback_reply(request_id: object, callback: dict[str, Any]) -> Event:
    return {"type": "callback", "id": request_id, "callback": callback}


@_reply("callbacks", "callbacks")
def callbacks_reply(request_id: object, callbacks: list[dict[str, Any]]) -> Event:
    return {"type": "callbacks", "id": request_id, "callbacks": callbacks}


@_reply("appointment", "appointment room?")
def appointment_reply(request_id: object, appointment: dict[str, Any], *, room: str | None = None) -> Event:
    """``room``: the interview to join (``appointment_join``)."""
    reply: Event = {"type": "appointment", "id": request_id, "appointment": appointment}
    if room is not None:
        reply["room"] = room
    return reply


@_reply("appointments", "appointments")
def appointments_reply(request_id: object, appointments: list[dict[str, Any]]) -> Event:
    return {"type": "appointments", "id": request_id, "appointments": appointments}


@_reply("portfolio", "portfolio")
def portfolio_reply(request_id: object, portfolio: list[dict[str, Any]]) -> Event:
    return {"type": "portfolio", "id": request_id, "portfolio": portfolio}


@_reply("followup", "followup")
def followup_reply(request_id: object, followup: dict[str, Any] | None) -> Event:
    """``followup``: null for a jobseeker nobody follows."""
    return {"type": "followup", "id": request_id, "followup": followup}
