"""One participant of an interview: its two peer connections and its signalling.

Each participant has a *publish* connection (the client offers its camera and microphone; the
server answers and receives) and a *subscribe* connection (the server offers the other
participants' tracks; the client answers). One offerer per connection means no glare.

aiortc does not restart ICE in place, so an ICE restart replaces a connection: a publish offer
with ``restart`` (or new ICE credentials) gets a fresh server connection, and the publications
simply take their packets from it (subscribers see one continuous stream, resumed at the next
keyframe); ``media_restart`` gives the client a fresh subscribe connection to answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from typing import TYPE_CHECKING, Any

from aiortc import RTCPeerConnection

from ..errors import BadRequest, ErrorCode
from ..logprivacy import personal
from ..protocol import events
from . import forwarder
from .forwarder import HostAddresses, Inbound, Outbound
from .ice import IceServerConfig
from .links import LinkConfig
from .retransmit import RetransmitPolicy
from .track import DownTrack, ForwardingTotals, Publication

if TYPE_CHECKING:
    from ..delivery.connection import Connection
    from .room import MediaRoom

__all__ = ["MediaConfig", "Participant", "PublishSession", "SubscribeSession"]

log = logging.getLogger(__name__)

MAX_PENDING_CANDIDATES = 64
MAX_QUEUED_EVENTS = 256  # a socket this far behind is being cut off by its own buffer limit anyway
FLUSH_TIMEOUT_S = 1.0
# How long closing waits for the event writer and the stats task to end once told to. A send to a
# participant on another node goes through the Redis client, and a cancellation arriving while it
# runs was seen lost there about once in five shutdowns (the writer went back to its queue, and the
# node's shutdown waited for it until the test's 90 s timeout): closing must not depend on it.
TASK_STOP_TIMEOUT_S = 1.0
_STOP = None  # put in the outbox: the writer ends after what is queued before it


@dataclasses.dataclass(frozen=True, slots=True)
class MediaConfig:
    addresses: HostAddresses = dataclasses.field(default_factory=HostAddresses)
    ice: IceServerConfig = dataclasses.field(default_factory=IceServerConfig)
    drop_timeout_s: float = 15.0
    max_participants: int = 4
    # Answer a publisher's transport-wide congestion control (rtserver/media/twcc.py) in interviews.
    # Not in a pre-call check's echo room: its capacity probe (rtserver/precall/probe.py) drives the
    # browser's ramp with REMB and was calibrated so; Chromium's own probing and delay-based back-off,
    # fed by this feedback, would move the ramp the probe measures.
    transport_cc: bool = True
    links: LinkConfig = dataclasses.field(default_factory=LinkConfig)
    retransmit: RetransmitPolicy = dataclasses.field(default_factory=RetransmitPolicy)  # answering NACKs


class Participant:
    """A user in an interview room. The room owns it; ``close()`` releases everything it holds."""

    def __init__(self, room: MediaRoom, *, user_id: str, name: str, role: str, conn: Connection,
                 config: MediaConfig, totals: ForwardingTotals):
        self.room = room
        self.user_id = user_id
        self.name = name
        self.role = role
        self.conn: Connection | None = conn
        self.config = config
        self.totals = totals
        self.stream_id = uuid.uuid4().hex[:16]  # msid of this participant's tracks at the subscribers
        self.publisher = PublishSession(self)
        self.subscriber = SubscribeSession(self)
        self.drop_timer: asyncio.TimerHandle | None = None
        self.stats_task: asyncio.Task[None] | None = None
        # The node's automatic choices (rtserver/media/links.py): video to this participant (its
        # downlink carries it) and video from it (its uplink does). Apart from the person's own
        # choice (SubscribeSession.receive_video): video flows only when both allow it.
        self.auto_receive_video = True
        self.auto_send_video = True
        self._outbox: asyncio.Queue[tuple[Connection, dict[str, Any]] | None] = asyncio.Queue()
        self._writer = asyncio.create_task(self._write_events(), name=f"media-events-{user_id}")

    def describe(self) -> dict[str, Any]:
        return {"user": self.user_id, "name": self.name, "role": self.role, "connected": self.conn is not None,
                "tracks": [p.describe() for p in self.room.publications_of(self.user_id)]}

    def post(self, event: dict[str, Any]) -> None:
        """Queue an event for this participant's WebSocket (dropped while it has none)."""
        self.room.observe(event, self)
        conn = self.conn
        if conn is None or conn.closed:
            return
        if self._outbox.qsize() >= MAX_QUEUED_EVENTS:
            log.warning("media events for %s are not being read: dropping %s", personal(self.user_id),
                        event.get("type"))
            return
        self._outbox.put_nowait((conn, event))

    async def _write_events(self) -> None:
        # One writer per participant keeps its events in order without making the room wait
        # for a slow socket (a stuck one is cut off by the connection's own buffer limit).
        while True:
            item = await self._outbox.get()
            try:
                if item is _STOP:
                    return
                conn, event = item
                await conn.send(event)
            finally:
                self._outbox.task_done()

    def peer_connections(self) -> int:
        return (self.publisher.pc is not None) + (self.subscriber.pc is not None)

    async def close(self) -> None:
        if self.drop_timer is not None:
            self.drop_timer.cancel()
            self.drop_timer = None
        with contextlib.suppress(TimeoutError):  # let queued events (media_closed...) go out first
            await asyncio.wait_for(self._outbox.join(), FLUSH_TIMEOUT_S)
        self._outbox.put_nowait(_STOP)  # ends the writer without relying on cancellation
        if self.stats_task is not None:
            self.stats_task.cancel()
        tasks = [t for t in (self.stats_task, self._writer) if t is not None and not t.done()]
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=TASK_STOP_TIMEOUT_S)
            for task in stuck:
                task.cancel()  # a writer still in a send that does not return
            if stuck:
                _, stuck = await asyncio.wait(stuck, timeout=TASK_STOP_TIMEOUT_S)
            if stuck:
                log.warning("%d media task(s) of %s did not stop; left behind", len(stuck), personal(self.user_id))
        self.stats_task = None
        await asyncio.gather(self.publisher.close(), self.subscriber.close())


def _watch(participant: Participant, session: PublishSession | SubscribeSession, pc: RTCPeerConnection,
           role: str) -> None:
    @pc.on("connectionstatechange")
    def changed() -> None:
        if session.pc is pc:
            participant.post(events.media_connection(participant.room.id, role, pc.connectionState))


async def _add_candidate(pc: RTCPeerConnection, candidate: Any) -> None:
    try:
        await pc.addIceCandidate(candidate)
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"bad candidate: {exc}", code=ErrorCode.INVALID_MESSAGE) from None


class PublishSession:
    """The connection on which the participant's tracks arrive (the client offers)."""

    def __init__(self, participant: Participant):
        self.participant = participant
        self.pc: RTCPeerConnection | None = None
        self._ufrag: str | None = None
        self._inbounds: dict[Any, Inbound] = {}
        self._feedback: forwarder.TransportFeedback | None = None

    async def apply_offer(self, sdp: str, restart: bool) -> str:
        """Answer the client's offer, publish what it sends; a restart (new ICE credentials) gets a new connection."""
        try:
            ufrag = forwarder.ice_ufrag(sdp)
        except ValueError as exc:
            raise BadRequest(f"unreadable offer: {exc}") from None
        if self.pc is not None and (restart or ufrag != self._ufrag):
            await self._close_pc()
        if self.pc is None:
            self.pc = forwarder.new_peer_connection(self.participant.config.addresses)
            _watch(self.participant, self, self.pc, "publish")
        pc = self.pc
        try:
            await forwarder.set_remote(pc, sdp, "offer")
        except forwarder.AiortcIncompatible:
            raise
        except Exception as exc:  # aiortc raises assorted errors for descriptions it cannot apply
            raise BadRequest(f"offer refused: {exc}") from None
        for transceiver in pc.getTransceivers():
            if transceiver not in self._inbounds:
                forwarder.keep_first_codec(transceiver)
                self._inbounds[transceiver] = Inbound(transceiver)
        if self.participant.config.transport_cc and not self.participant.room.echo \
                and forwarder.accept_transport_cc(pc):
            if self._feedback is None:
                self._feedback = forwarder.TransportFeedback()
            for inbound in self._inbounds.values():
                inbound.transport_cc = self._feedback
        answer = await forwarder.answer(pc, self.participant.config.addresses)
        self._ufrag = ufrag
        published = [(t.mid, codec, self._inbounds[t]) for t, codec, sending in forwarder.receiving_transceivers(pc)
                     if sending and codec is not None and t.mid is not None]
        self.participant.room.set_publications(self.participant, published)
        return answer

    async def add_candidate(self, candidate: Any) -> None:
        if self.pc is None or self.pc.remoteDescription is None:
            raise BadRequest("send the publish offer before its candidates", code=ErrorCode.CONFLICT)
        await _add_candidate(self.pc, candidate)

    async def _close_pc(self) -> None:
        pc, self.pc = self.pc, None
        for inbound in self._inbounds.values():
            inbound.close()
        self._inbounds.clear()
        if self._feedback is not None:
            self._feedback.close()
            self._feedback = None
        self._ufrag = None
        if pc is not None:
            await pc.close()

    async def close(self) -> None:
        await self._close_pc()


class SubscribeSession:
    """The connection on which the participant receives the others' tracks (the server offers)."""

    def __init__(self, participant: Participant):
        self.participant = participant
        self.pc: RTCPeerConnection | None = None
        self.downtracks: list[DownTrack] = []
        self._awaiting_answer = False
        self._wanted = False
        self._restart = False
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._pending_candidates: list[Any] = []
        self._closed = False
        self.receive_video = True

    # -- what to carry -------------------------------------------------------------------------
    def sync(self) -> None:
        """Make the sending sections match the room's publications (except its own, unless an echo room)."""
        if self._closed:
            return
        me = self.participant
        wanted = {p.id: p for p in me.room.publications.values() if p.owner != me.user_id or me.room.echo}
        changed = False
        downtrack: DownTrack | None  # the loops below bind it: each its own
        for downtrack in self.downtracks:
            publication = downtrack.publication
            if publication is not None and wanted.get(publication.id) is not publication:
                downtrack.detach()
            if downtrack.publication is None and downtrack.outbound.transceiver.direction != "inactive":
                forwarder.relabel(downtrack.outbound.transceiver, stream_id="-", track_id=uuid.uuid4().hex[:16],
                                  active=False)
                changed = True
        carried = {d.publication.id for d in self.downtracks if d.publication is not None}
        for publication in sorted(wanted.values(), key=lambda p: p.created):
            if publication.id in carried:
                continue
            owner = me.room.participants.get(publication.owner)
            stream_id = owner.stream_id if owner is not None else "-"
            downtrack = next((d for d in self.downtracks if d.publication is None and d.codec == publication.codec),
                             None)
            if downtrack is None:
                if self.pc is None:
                    self.pc = forwarder.new_peer_connection(me.config.addresses)
                    _watch(me, self, self.pc, "subscribe")
                transceiver = forwarder.add_forwarding_transceiver(self.pc, publication.codec, stream_id=stream_id,
                                                                   track_id=publication.id)
                downtrack = DownTrack(subscriber=me.user_id, codec=publication.codec, totals=me.totals,
                                      outbound_factory=lambda d, t=transceiver: Outbound(t, d, me.config.retransmit),
                                      audio_streams=self.audio_streams)
                self.downtracks.append(downtrack)
            else:
                forwarder.relabel(downtrack.outbound.transceiver, stream_id=stream_id, track_id=publication.id,
                                  active=True)
            downtrack.negotiated = False  # forwards once the subscriber applied an offer carrying it
            downtrack.paused = self.video_paused(publication)
            downtrack.attach(publication)
            changed = True
        if changed:
            self.request_negotiation()

    def set_receive_video(self, wanted: bool) -> None:
        """Audio-only reception chosen by the person (a weak link) or video again; the sections stay
        negotiated. The node's own fallback (``Participant.auto_receive_video``) still applies."""
        self.receive_video = wanted
        self.apply_pauses()

    def video_paused(self, publication: Publication) -> bool:
        """Whether ``publication`` is held back from this subscriber: a video the person chose not to
        receive, that the node stopped sending it (its downlink) or stopped forwarding from its
        publisher (the publisher's uplink). Audio always flows."""
        if publication.kind != "video":
            return False
        me = self.participant
        if not (self.receive_video and me.auto_receive_video):
            return True
        owner = me.room.participants.get(publication.owner)
        return owner is not None and owner is not me and not owner.auto_send_video

    def apply_pauses(self) -> None:
        """Pause or resume each section as ``video_paused`` says (resuming starts at a keyframe)."""
        for downtrack in self.downtracks:
            if downtrack.publication is not None:
                downtrack.set_paused(self.video_paused(downtrack.publication))

    def audio_streams(self) -> int:
        """Audio streams this connection carries now (their share of the link is kept from the video)."""
        return sum(1 for d in self.downtracks if d.kind == "audio" and d.publication is not None and not d.paused)

    def track_map(self) -> list[dict[str, Any]]:
        """Which publication each media section carries (sections with no entry are inactive)."""
        out = []
        for downtrack in self.downtracks:
            publication = downtrack.publication
            if publication is not None and downtrack.mid is not None:
                owner = self.participant.room.participants.get(publication.owner)
                out.append({"mid": downtrack.mid, "kind": publication.kind, "track": publication.id,
                            "user": publication.owner, "stream": owner.stream_id if owner else None})
        return out

    # -- negotiation ---------------------------------------------------------------------------
    def request_negotiation(self) -> None:
        self._wanted = True
        if self._awaiting_answer or self.pc is None or self._closed:
            return
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._negotiate(), name=f"media-offer-{self.participant.user_id}")
            self._task.add_done_callback(_log_failure)

    async def _negotiate(self) -> None:
        async with self._lock:
            while self._wanted and not self._awaiting_answer and self.pc is not None and not self._closed:
                self._wanted = False
                pc = self.pc
                try:
                    sdp = await forwarder.offer(pc, self.participant.config.addresses)
                except forwarder.NoMediaPort as exc:
                    # The client restarts a failed connection (media_restart) and tries again.
                    log.warning("no subscribe connection for %s: %s", personal(self.participant.user_id), exc)
                    self.participant.post(events.media_connection(self.participant.room.id, "subscribe", "failed"))
                    return
                except Exception:
                    if self._closed or pc is not self.pc or pc.signalingState == "closed":
                        return  # closed or replaced meanwhile: nothing to offer on it
                    raise
                if pc is not self.pc:
                    continue  # replaced meanwhile
                self._awaiting_answer = True
                self.participant.post(self.offer_event(sdp))
                self._restart = False

    def offer_event(self, sdp: str | None = None) -> dict[str, Any]:
        assert self.pc is not None
        return events.media_offer(self.participant.room.id, sdp if sdp is not None else self.pc.localDescription.sdp,
                                  self.track_map(), self._restart)

    def resend_offer(self) -> None:
        """After the participant reconnected: repeat an offer it may never have received."""
        if self._awaiting_answer and self.pc is not None and self.pc.localDescription is not None:
            self.participant.post(self.offer_event())

    async def apply_answer(self, sdp: str) -> None:
        async with self._lock:
            pc = self.pc
            if pc is None or not self._awaiting_answer:
                raise BadRequest("no subscribe offer is waiting for an answer", code=ErrorCode.CONFLICT)
            try:
                await forwarder.set_remote(pc, sdp, "answer")
            except Exception as exc:
                raise BadRequest(f"answer refused: {exc}") from None
            self._awaiting_answer = False
            for downtrack in self.downtracks:
                if downtrack.publication is not None and not downtrack.negotiated:
                    downtrack.negotiated = True
                    downtrack.restart()
            pending, self._pending_candidates = self._pending_candidates, []
            for candidate in pending:
                await _add_candidate(pc, candidate)
        if self._wanted:
            self.request_negotiation()

    async def add_candidate(self, candidate: Any) -> None:
        if self.pc is None or self.pc.remoteDescription is None:
            if len(self._pending_candidates) >= MAX_PENDING_CANDIDATES:
                raise BadRequest("too many candidates before the answer", code=ErrorCode.CONFLICT)
            self._pending_candidates.append(candidate)
            return
        await _add_candidate(self.pc, candidate)

    async def restart(self) -> None:
        """Drop the subscribe connection and offer a fresh one (the client answers on a new RTCPeerConnection)."""
        await self._cancel_task()
        async with self._lock:
            old_pc, old = self.pc, self.downtracks
            self.pc, self.downtracks = None, []
            self._awaiting_answer = False
            self._pending_candidates = []
            for downtrack in old:
                downtrack.close()
            self._restart = True
            self.sync()
            if self.pc is None:
                self._restart = False
        if old_pc is not None:
            await old_pc.close()

    async def _cancel_task(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def close(self) -> None:
        self._closed = True
        await self._cancel_task()
        for downtrack in self.downtracks:
            downtrack.close()
        self.downtracks = []
        pc, self.pc = self.pc, None
        if pc is not None:
            await pc.close()


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("subscribe negotiation failed", exc_info=task.exception())
