"""Closing a participant ends in bounded time, whatever its event writer is doing.

A participant on another node receives its media events through the Redis client, and a
cancellation arriving inside that client was lost about once in five shutdowns: the writer went back
to its queue and the node's shutdown waited for it forever. The writer is now told to stop through
its queue, and every wait of ``close`` is bounded."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from rtserver.media import participant as participant_module
from rtserver.media.participant import MediaConfig, Participant
from rtserver.media.track import ForwardingTotals


class Room:
    id = "iv"

    def observe(self, event: dict[str, Any], participant: Participant) -> None:
        pass


class SwallowingConnection:
    """A send that ignores the first cancellation, as the lost one did, then waits again."""

    closed = False

    def __init__(self) -> None:
        self.sends = 0
        self.in_send = asyncio.Event()

    async def send(self, event: dict[str, Any]) -> None:
        self.sends += 1
        self.in_send.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            return  # swallowed


def make(conn: Any) -> Participant:
    return Participant(Room(), user_id="u", name="U", role="jobseeker", conn=conn, config=MediaConfig(),  # type: ignore[arg-type]
                       totals=ForwardingTotals())


async def test_close_ends_when_a_send_swallows_the_cancellation(monkeypatch):
    monkeypatch.setattr(participant_module, "FLUSH_TIMEOUT_S", 0.05)
    monkeypatch.setattr(participant_module, "TASK_STOP_TIMEOUT_S", 0.05, raising=False)
    conn = SwallowingConnection()
    p = make(conn)
    p.post({"type": "media_closed"})
    await conn.in_send.wait()
    started = time.monotonic()
    await asyncio.wait_for(p.close(), 2.0)
    assert time.monotonic() - started < 1.0
    assert p._writer.done()  # it came back to its queue and found the stop


async def test_close_delivers_what_was_queued_before_stopping_the_writer():
    sent: list[str] = []

    class Recording:
        closed = False

        async def send(self, event: dict[str, Any]) -> None:
            await asyncio.sleep(0)
            sent.append(event["type"])

    p = make(Recording())
    for kind in ("media_participant", "media_closed"):
        p.post({"type": kind})
    await asyncio.wait_for(p.close(), 2.0)
    assert sent == ["media_participant", "media_closed"] and p._writer.done()
