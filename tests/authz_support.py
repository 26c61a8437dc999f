"""Helpers for the authorization matrix and the fuzz tests (no tests here).

- ``Wire``: one raw WebSocket (JSON or msgpack) that asks a request and returns the answer
  carrying its id, every wait bounded; events in between are kept, not lost.
- ``World``: a follow-up set up through the portal HTTP API with the test API key: a jobseeker
  followed by an advisor (their conversation room), a second advisor to transfer to, and on
  demand a callback request and an appointment. Each world has its own user ids, so cells of
  the matrix never see each other's state.
- ``frame_for``: a valid request of every type (and variant) for a world and an acting user.
- ``documented_codes``: the error codes the documentation lists.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import re
import time
from pathlib import Path
from typing import Any

import aiohttp
import msgpack
import orjson
from conftest import API_KEY, Harness
from workflow_support import follow, users

from rtserver.errors import ErrorCode

__all__ = ["MINIMAL_CANDIDATE", "MINIMAL_SDP", "WRONG_KEY", "Wire", "World", "documented_codes", "fill_path",
           "frame_for", "make_world", "transfer", "windows"]

ANSWER_TIMEOUT_S = 10.0
DOCS = Path(__file__).resolve().parent.parent / "docs"

# Syntactically valid and minimal: enough to pass the parsers and reach authorization.
MINIMAL_SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
MINIMAL_CANDIDATE = {"candidate": "candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host", "sdp_mid": "0",
                     "sdp_mline_index": 0}
HOUR_MS = 3_600_000


def documented_codes() -> set[str]:
    """Every ``ErrorCode`` named in backquotes in docs/protocol.md or docs/workflow.md."""
    text = (DOCS / "protocol.md").read_text() + (DOCS / "workflow.md").read_text()
    return {str(code) for code in ErrorCode if f"`{code}`" in text}


class Wire:
    """A raw WebSocket to a node. ``ask`` sends one request and returns the frame answering it."""

    _ids = itertools.count(1)

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, codec: str = "json"):
        self.ws = ws
        self.codec = codec
        self.events: list[dict[str, Any]] = []
        self.hello: dict[str, Any] | None = None

    @classmethod
    async def open(cls, harness: Harness, user: str | None, role: str = "jobseeker", *, codec: str = "json",
                   **kw: Any) -> Wire:
        """Authenticated with a Bearer header (waits for ``hello``), or not at all when ``user`` is None."""
        headers = {"Authorization": f"Bearer {harness.token(user, role)}"} if user is not None else {}
        ws = await harness.raw(protocols=(f"rtserver.v1.{codec}",), headers=headers, **kw)
        wire = cls(ws, codec)
        if user is not None:
            wire.hello = await wire.until(lambda e: e.get("type") == "hello")
        return wire

    async def send(self, frame: Any) -> None:
        if self.codec == "json":
            # The standard library's encoder: integers of any size, NaN as the (invalid) NaN token.
            await self.ws.send_str(json.dumps(frame, allow_nan=True))
        else:
            await self.ws.send_bytes(msgpack.packb(frame, use_bin_type=True))

    async def send_raw(self, data: bytes | str) -> None:
        if isinstance(data, str):
            await self.ws.send_str(data)
        else:
            await self.ws.send_bytes(data)

    async def next(self, timeout: float = ANSWER_TIMEOUT_S) -> dict[str, Any]:
        """The next frame, or ``{"type": "closed", "code": ...}`` once the server closed."""
        async with asyncio.timeout(timeout):
            msg = await self.ws.receive()
        if msg.type == aiohttp.WSMsgType.TEXT:
            return orjson.loads(msg.data)
        if msg.type == aiohttp.WSMsgType.BINARY:
            return msgpack.unpackb(msg.data, raw=False)
        return {"type": "closed", "code": self.ws.close_code}

    async def until(self, match: Any, timeout: float = ANSWER_TIMEOUT_S) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            event = await self.next(max(0.01, deadline - time.monotonic()))
            if match(event) or event["type"] == "closed":
                return event
            self.events.append(event)

    async def ask(self, frame: dict[str, Any], timeout: float = ANSWER_TIMEOUT_S) -> dict[str, Any]:
        rid = f"q{next(self._ids)}"
        await self.send({**frame, "id": rid})
        return await self.until(lambda e: e.get("id") == rid, timeout)

    async def close(self) -> None:
        await self.ws.close()


@dataclasses.dataclass
class World:
    n: int
    js: str
    adv: str
    adv2: str
    guest: str
    stranger: str
    room: str
    callback: str | None = None
    appointment: str | None = None

    def transfer_path(self) -> str:
        return f"/api/followups/{self.js}/transfer"


_worlds = itertools.count(1)


def windows(*starts_h: float) -> list[dict[str, int]]:
    now = int(time.time() * 1000)
    return [{"start": now + int(h * HOUR_MS), "end": now + int(h * HOUR_MS) + HOUR_MS} for h in starts_h]


async def make_world(portal: Harness, *, callback: bool = False, appointment: bool = False) -> World:
    n = next(_worlds)
    w = World(n, f"js-{n}", f"adv-{n}", f"advb-{n}", f"guest-{n}", f"stranger-{n}", "")
    await users(portal, (w.js, "jobseeker", ""), (w.adv, "advisor", ""), (w.adv2, "advisor", ""))
    w.room = (await follow(portal, w.js, w.adv))["room"]
    if callback:
        status, data = await portal.api("POST", f"/api/followups/{w.js}/callbacks",
                                        {"reason": "CV", "channel": "phone", "windows": windows(2)})
        assert status == 201, data
        w.callback = data["id"]
    if appointment:
        status, data = await portal.api("POST", "/api/appointments", {
            "advisor": w.adv, "jobseeker": w.js, "start": int(time.time() * 1000) + 5 * 60_000, "duration_min": 30})
        assert status == 201, data
        w.appointment = data["id"]
    return w


async def transfer(portal: Harness, w: World) -> None:
    status, data = await portal.api("POST", w.transfer_path(), {"advisor": w.adv2})
    assert status == 200 and data["previous_advisor"] == w.adv, data


def frame_for(key: str, w: World, actor: str, token: str) -> dict[str, Any]:
    """A valid request for matrix row ``key`` (a request type, or ``type/variant``)."""
    kind, _, variant = key.partition("/")
    room = {"": w.room, "nonexistent": f"followup-nobody-{w.n}", "precall": f"precall:{w.js}",
            "own_precall": f"precall:{actor}"}.get(variant, w.room)
    frames: dict[str, dict[str, Any]] = {
        "auth": {"token": token},
        "join": {"room": room}, "leave": {"room": room}, "send": {"room": room, "text": "bonjour"},
        "typing": {"room": room, "active": True}, "call": {"room": room, "signal": "declined"},
        "read": {"room": room, "offset": 1},
        "history": {"room": room, "limit": 10},
        "presence": {"status": "online"}, "ping": {}, "rooms": {},
        "media_join": {"room": room}, "media_leave": {"room": room},
        "media_offer": {"room": room, "sdp": MINIMAL_SDP}, "media_answer": {"room": room, "sdp": MINIMAL_SDP},
        "media_candidate": {"room": room, "pc": "publish", "candidate": MINIMAL_CANDIDATE},
        "media_restart": {"room": room}, "media_stats": {"room": room},
        "media_invite": {"room": room, "user": f"interpreter-{w.n}"}, "media_receive": {"room": room, "video": False},
        "media_report": {"room": room, "receive": [{"user": w.adv, "kind": "video", "fps": 1.0}]},
        "callback_request": {"reason": "CV", "channel": "video", "windows": windows(3)},
        "callback_cancel": {"callback": w.callback}, "callback_claim": {"callback": w.callback},
        "callback_outcome": {"callback": w.callback, "outcome": "done"}, "callbacks": {},
        "appointment_create": {"jobseeker": w.js, "start": int(time.time() * 1000) + 2 * HOUR_MS,
                               "duration_min": 30},
        "appointment_cancel": {"appointment": w.appointment}, "appointment_join": {"appointment": w.appointment},
        "appointments": {}, "followup": {}, "followup_opt_out": {}, "followup_opt_in": {},
        "precall_result": {"measurements": {}},
        "precall_results": {"user": w.js} if variant == "jobseeker" else {},
    }
    return {"type": kind, **frames[kind]}


WRONG_KEY = "wrong-" + API_KEY

_SAFE_PATH = re.compile(r"\{(\w+)\}")


def fill_path(canonical: str, values: dict[str, str]) -> str:
    """``/api/rooms/{room}`` with its parameters from ``values``."""
    return _SAFE_PATH.sub(lambda m: values[m.group(1)], canonical)
