"""The node's side of interview outcomes: record each interview it hosts, count it on ``/metrics``,
checkpoint the running ones (old records are deleted by the node's retention sweep, ``rtserver/retention``).

Only the node hosting an interview holds its room, so only it records it (a forwarding node sees
signalling, not the room). When the room closes, its summary is counted and stored. While it runs,
every ``interview_outcomes_checkpoint_s`` the summary so far is stored under the same id as if
the interview had ended with ``host_lost``: if this node dies, that is what remains (the room
continues on another node as an interview of its own); if not, the final record replaces it.

Writes go through one queue and one writer task, in order: a checkpoint still waiting when the
final record comes is replaced by it, and one being written finishes before the final one starts,
so a checkpoint can never overwrite the final record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from ..errors import RtError
from ..logprivacy import personal
from ..media.outcome import OUTCOMES
from .stores import OutcomeStore

if TYPE_CHECKING:
    from ..media.room import MediaRoom
    from ..media.signalling import MediaService

__all__ = ["OutcomeRecorder", "outcome_record"]

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
DRAIN_TIMEOUT_S = 5.0  # at shutdown, waiting writes get this long (the store is still open)
MAX_PENDING = 10_000  # records waiting for a store that is down: checkpoints are dropped beyond


def outcome_record(room: MediaRoom, *, now: float, now_ms: int, open_as: str = "open") -> dict[str, Any]:
    """What is stored of ``room``'s interview: ids, times and the summary (no names, no text)."""
    outcome = room.outcome
    assert outcome is not None
    return {"id": outcome.id, "room": room.id, "advisor": outcome.advisor, "started": room.started_ms,
            "ended": now_ms, **outcome.summary(now, open_as=open_as)}


class OutcomeRecorder:
    def __init__(self, store: OutcomeStore, *, media: MediaService, registry: CollectorRegistry,
                 retention_days: int, checkpoint_s: float):
        if retention_days < 1 or checkpoint_s <= 0:
            raise ValueError("interview_outcomes_retention_days must be at least 1 and "
                             "interview_outcomes_checkpoint_s positive")
        self.store = store
        self.retention_days = retention_days
        self._media = media
        self._checkpoint_s = checkpoint_s
        self._pending: dict[str, tuple[dict[str, Any], bool]] = {}  # id -> (record, final), oldest first
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._writer: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.interviews = Counter("rtserver_interviews", "interviews hosted here that ended, by outcome "
                                  "(clean, degraded, failed, unattended: docs/media.md)", ["outcome"],
                                  registry=registry)
        for outcome in OUTCOMES:
            self.interviews.labels(outcome)
        self.connect_time = Histogram(
            "rtserver_interview_connect_seconds", "from the second participant's arrival to both sides' media "
            "connected", buckets=(0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0), registry=registry)
        self.degraded_time = Histogram(
            "rtserver_interview_degraded_seconds", "seconds of an attended interview in audio only (a fallback) "
            "or frozen", buckets=(0.0, 1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0), registry=registry)
        media.on_interview_closed = self.closed

    # -- recording ----------------------------------------------------------------------------------
    def closed(self, room: MediaRoom) -> None:
        """The interview's room closed: count it, store its final record."""
        try:  # called from the room's removal of its last participant, which must go on whatever happens here
            record = outcome_record(room, now=time.monotonic(), now_ms=int(time.time() * 1000))
        except Exception:
            log.exception("interview %s: its outcome could not be summarised", personal(room.id))
            return
        self.interviews.labels(record["outcome"]).inc()
        if record["connect_s"] is not None:
            self.connect_time.observe(record["connect_s"])
        if record["outcome"] != "unattended":
            self.degraded_time.observe(record["audio_s"] + record["frozen_s"])
        self._enqueue(record, final=True)

    def checkpoint(self) -> None:
        now, now_ms = time.monotonic(), int(time.time() * 1000)
        for room in list(self._media.rooms.values()):
            if room.outcome is not None and room.participants:
                self._enqueue(outcome_record(room, now=now, now_ms=now_ms, open_as="host_lost"), final=False)

    def _enqueue(self, record: dict[str, Any], *, final: bool) -> None:
        rid = record["id"]
        if not final and (rid in self._pending or len(self._pending) >= MAX_PENDING):
            return  # the one waiting (a final one, or a checkpoint nearly as recent) stays
        self._pending[rid] = (record, final)
        self._idle.clear()
        self._wake.set()

    async def _write_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                rid = next(iter(self._pending))
                record, final = self._pending.pop(rid)
                try:
                    await self.store.save(record)
                except RtError as exc:
                    log.warning("interview %s: its outcome could not be stored%s: %s", personal(record["room"]),
                                "" if final else " (checkpoint)", exc.message)
                except Exception:
                    log.exception("interview %s: storing its outcome failed", personal(record["room"]))
            self._idle.set()

    async def flush(self) -> None:
        """Wait until every record queued so far is written (or failed)."""
        await self._idle.wait()

    # -- the loop -----------------------------------------------------------------------------------
    async def sweep(self, now_ms: int | None = None) -> int:
        """Remove the records of interviews that started more than ``retention_days`` ago."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        return await self.store.sweep(now_ms - self.retention_days * DAY_MS)

    async def _tick_forever(self) -> None:
        # Records past interview_outcomes_retention_days are deleted by the node's retention sweep
        # (rtserver/retention: kind interview_outcomes), with every other kind of data.
        while True:
            await asyncio.sleep(self._checkpoint_s)
            self.checkpoint()

    async def start(self) -> None:
        await self.store.open()
        self._writer = asyncio.create_task(self._write_forever(), name="interview-outcomes")
        self._ticker = asyncio.create_task(self._tick_forever(), name="interview-outcomes-tick")

    async def close(self) -> None:
        """After the media rooms closed (their final records are queued): write them, then stop."""
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.flush(), DRAIN_TIMEOUT_S)
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        await self.store.close()
