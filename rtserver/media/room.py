"""An interview room: its participants, their publications, and who receives what.

Room state changes synchronously (no ``await`` between reading and writing it), so concurrent
requests from different participants cannot interleave half-way; only each participant's own
peer connections are awaited, outside the room's bookkeeping. Events to participants are queued
on their own writers (``Participant.post``), so one slow socket never holds up the room.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..protocol import events
from .forwarder import CodecSpec, Inbound
from .outcome import InterviewOutcome
from .participant import MediaConfig, Participant
from .track import ForwardingTotals, Publication

if TYPE_CHECKING:
    from ..delivery.connection import Connection

__all__ = ["MediaRoom"]

log = logging.getLogger(__name__)


class MediaRoom:
    def __init__(self, room_id: str, *, config: MediaConfig, totals: ForwardingTotals,
                 on_empty: Callable[[MediaRoom], None], on_released: Callable[[], None] | None = None,
                 echo: bool = False):
        self.id = room_id
        # An echo room (the pre-call check's loopback) sends each participant its own tracks back.
        self.echo = echo
        self.config = config
        self.participants: dict[str, Participant] = {}
        self.publications: dict[str, Publication] = {}
        # Third parties an advisor let in (interpreters): guest -> who invited them (the latest
        # invitation counts). Valid while the inviter is a member of the chat room (MediaService).
        self.invited: dict[str, str] = {}
        self._totals = totals
        self._on_empty = on_empty
        self._on_released = on_released  # a participant's connections are closed (see MediaService)
        self._closing: set[asyncio.Task[None]] = set()
        self._shutting_down = False
        self._expiry: asyncio.TimerHandle | None = None
        self._expiring: asyncio.Task[None] | None = None  # held so the closing task is not collected
        # What the interview was like, folded from the events below (not for a pre-call echo room).
        self.started_ms = int(time.time() * 1000)
        self.outcome = None if echo else InterviewOutcome(room_id, now=time.monotonic())

    def expire_after(self, seconds: float, reason: str) -> None:
        """Close the room after ``seconds`` whoever is in it (a pre-call check's bounded echo session)."""
        def expire() -> None:
            self._expiry = None
            self._expiring = asyncio.ensure_future(self.close(reason))
        self._expiry = asyncio.get_running_loop().call_later(seconds, expire)

    def publications_of(self, user_id: str) -> list[Publication]:
        return [p for p in self.publications.values() if p.owner == user_id]

    def observe(self, event: dict[str, Any], to: Participant | None = None) -> None:
        """Fold an event sent in this room into its outcome summary (``to``: posted to one participant)."""
        if self.outcome is not None:
            self.outcome.observe(event, time.monotonic(), to=None if to is None else to.user_id)

    def broadcast(self, event: dict[str, Any], *, exclude: Participant | None = None) -> None:
        self.observe(event)
        for participant in self.participants.values():
            if participant is not exclude:
                participant.post(event)

    def _participant_event(self, participant: Participant, what: str, **extra: Any) -> dict[str, Any]:
        return events.media_participant(self.id, participant.user_id, participant.name, participant.role, what,
                                        **extra)

    # -- membership ------------------------------------------------------------------------------
    def admit(self, *, user_id: str, name: str, role: str, conn: Connection) -> tuple[Participant, bool]:
        """The user's participant, bound to ``conn``: a new one, or the existing one resumed (True)."""
        existing = self.participants.get(user_id)
        if existing is not None:
            previous = existing.conn
            if previous is not None and previous is not conn:
                existing.post(events.media_closed(self.id, "taken_over"))
            existing.conn = conn
            if existing.drop_timer is not None:
                existing.drop_timer.cancel()
                existing.drop_timer = None
            self.broadcast(self._participant_event(existing, "resumed"), exclude=existing)
            existing.subscriber.resend_offer()
            return existing, True
        participant = Participant(self, user_id=user_id, name=name, role=role, conn=conn, config=self.config,
                                  totals=self._totals)
        self.participants[user_id] = participant
        self.broadcast(self._participant_event(participant, "joined"), exclude=participant)
        participant.subscriber.sync()
        return participant, False

    def dropped(self, participant: Participant) -> None:
        """Its WebSocket is gone: media keeps flowing; it is removed unless it comes back in time."""
        if self.participants.get(participant.user_id) is not participant:
            return
        participant.conn = None
        timeout = self.config.drop_timeout_s
        self.broadcast(self._participant_event(participant, "dropped", timeout_ms=int(timeout * 1000)))
        if participant.drop_timer is None:
            participant.drop_timer = asyncio.get_running_loop().call_later(
                timeout, self._drop_expired, participant)

    def _drop_expired(self, participant: Participant) -> None:
        participant.drop_timer = None
        if participant.conn is None:
            self.remove(participant, "timeout")

    def remove(self, participant: Participant, reason: str) -> asyncio.Task[None] | None:
        """Take the participant out now; its connections close in the returned task."""
        if self.participants.get(participant.user_id) is not participant:
            return None
        del self.participants[participant.user_id]
        if self._unpublish_all(participant):
            self.broadcast(events.media_tracks(self.id, participant.user_id, []))
        self.broadcast(self._participant_event(participant, "left", reason=reason))
        if not self._shutting_down:
            for other in self.participants.values():
                other.subscriber.sync()
        task = asyncio.ensure_future(participant.close())
        self._closing.add(task)
        task.add_done_callback(self._closed)
        if not self.participants:
            if self._expiry is not None:
                self._expiry.cancel()
                self._expiry = None
            self._on_empty(self)
        return task

    def _closed(self, task: asyncio.Task[None]) -> None:
        self._closing.discard(task)
        if self._on_released is not None:
            self._on_released()
        if not task.cancelled() and task.exception() is not None:
            log.error("closing a media participant failed", exc_info=task.exception())

    async def close(self, reason: str) -> None:
        """Remove everyone (server shutdown) and wait for their connections to close."""
        self._shutting_down = True
        for participant in list(self.participants.values()):
            participant.post(events.media_closed(self.id, reason))
            self.remove(participant, reason)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    # -- publications ----------------------------------------------------------------------------
    def set_publications(self, participant: Participant, published: list[tuple[str, CodecSpec, Inbound]]) -> None:
        """What the participant's publish connection now sends (mid, codec, source); subscribers follow."""
        mine = {p.mid: p for p in self.publications_of(participant.user_id)}
        changed = False
        for mid, codec, inbound in published:
            publication = mine.pop(mid, None)
            if publication is not None and publication.codec != codec:
                self._unpublish(publication)
                publication = None
            if publication is None:
                publication = Publication(track_id=uuid.uuid4().hex[:16], owner=participant.user_id, mid=mid,
                                          codec=codec, totals=self._totals, limit_bitrate=not self.echo)
                self.publications[publication.id] = publication
                changed = True
            publication.attach_source(inbound)
        for publication in mine.values():
            self._unpublish(publication)
            changed = True
        if changed:
            self.broadcast(events.media_tracks(self.id, participant.user_id,
                                               [p.describe() for p in self.publications_of(participant.user_id)]))
            for other in self.participants.values():
                if other is not participant or self.echo:
                    other.subscriber.sync()

    def _unpublish(self, publication: Publication) -> None:
        self.publications.pop(publication.id, None)
        publication.close()

    def _unpublish_all(self, participant: Participant) -> bool:
        mine = self.publications_of(participant.user_id)
        for publication in mine:
            self._unpublish(publication)
        return bool(mine)

    # -- telemetry -------------------------------------------------------------------------------
    async def stats(self) -> dict[str, Any]:
        out = []
        for participant in list(self.participants.values()):
            subscribed = [await d.stats() for d in list(participant.subscriber.downtracks) if d.publication]
            rtts = [s["rtt_ms"] for s in subscribed if "rtt_ms" in s]
            entry: dict[str, Any] = {
                "user": participant.user_id, "role": participant.role, "connected": participant.conn is not None,
                "publish_state": None if participant.publisher.pc is None else participant.publisher.pc.connectionState,
                "subscribe_state": (None if participant.subscriber.pc is None
                                    else participant.subscriber.pc.connectionState),
                "published": [p.stats() for p in self.publications_of(participant.user_id)],
                "subscribed": subscribed,
            }
            if rtts:
                entry["rtt_ms"] = round(sum(rtts) / len(rtts), 1)
            out.append(entry)
        return {"room": self.id, "participants": out}
