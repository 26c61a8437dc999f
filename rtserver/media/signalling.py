"""The media service: the ``media_*`` requests on the WebSocket, authorization, rooms, lifecycle.

Who may join an interview: the members of the chat room with the same id (the portal set them
through the HTTP API), and third parties an advisor in the interview invited (an interpreter).
Broadcast rooms (information sessions) have no video. A participant whose WebSocket drops stays
in the room, its media still flowing, for ``media_drop_timeout_s``; joining again from any
connection within that time resumes it. A room closes when its last participant is gone.

Who may *stay* is decided again and again, from the store, never from what was true when the
call began: every request of a participant re-reads its membership (a guest's: its inviter's),
and ``revalidate`` re-reads everyone's when a member is removed (the chat service tells the
routing, which reaches the hosting node) and at every node heartbeat (a missed removal). A
participant who may no longer be there gets ``media_closed`` (``removed``; a guest whose inviter
was removed: ``inviter_removed``) and the others see it leave.

Media rooms live in this process: with several nodes, every participant of an interview must
reach the same node (see docs/media.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..audit.chain import AccessKind
from ..audit.journal import NO_JOURNAL, Journal
from ..auth import Role
from ..backends import RoomKind, Store
from ..config import Settings
from ..errors import ErrorCode, Forbidden, LimitExceeded, RtError, Unavailable
from ..gcpolicy import FullCollection
from ..logprivacy import personal
from ..metrics import Metrics
from ..precall.probe import PROBE_KBPS
from ..protocol import events
from ..protocol.media import (
    MAX_STATS_EVERY_MS,
    MIN_STATS_EVERY_MS,
    MediaAnswer,
    MediaCandidate,
    MediaInvite,
    MediaJoin,
    MediaLeave,
    MediaOffer,
    MediaReceive,
    MediaReport,
    MediaRestart,
    MediaStats,
    PcRole,
)
from . import forwarder
from .candidate_policy import CandidatePolicy, Refusal
from .echo import EchoProbe
from .fallback import FallbackTimings
from .forwarder import HostAddresses
from .ice import IceServerConfig
from .linkquality import Floors
from .links import LinkConfig, LinkCounts, LinkMonitor
from .participant import MediaConfig, Participant
from .retransmit import RetransmitPolicy
from .room import MediaRoom
from .telemetry import MediaCollector
from .track import ForwardingTotals

if TYPE_CHECKING:
    from ..delivery.connection import Connection

__all__ = ["ECHO_PREFIX", "GUEST", "MediaService", "echo_room_owner", "media_config"]

GUEST = "guest"  # an invited participant's role in the interview

ECHO_PREFIX = "precall:"
# A browser's sender starts near 300 kbit/s and, with no transport-wide feedback from the node,
# climbs 8 % a second: a pre-call check would measure its ramp, not the link. In an echo room the
# node asks it to start at the capacity probe's rate (Chrome's x-google-start-bitrate), and the
# probe (rtserver.media.echo) brings it down below what the link carries (docs/precall.md).
ECHO_START_KBPS = PROBE_KBPS


def with_start_bitrate(sdp: str, kbps: int) -> str:
    """``sdp`` with ``x-google-start-bitrate`` on each video section's codecs (other browsers ignore it):
    appended to a codec's fmtp line, or in a new one after its rtpmap when it has none."""
    lines = sdp.split("\r\n")
    with_fmtp = {line[len("a=fmtp:"):].split(" ", 1)[0] for line in lines if line.startswith("a=fmtp:")}
    out: list[str] = []
    video = False
    for line in lines:
        if line.startswith("m="):
            video = line.startswith("m=video")
        elif video and line.startswith("a=fmtp:") and "apt=" not in line:  # not on RTX's
            line = f"{line};x-google-start-bitrate={kbps}"
        out.append(line)
        if video and line.startswith("a=rtpmap:"):
            pt, _, codec = line[len("a=rtpmap:"):].partition(" ")
            if pt not in with_fmtp and not codec.lower().startswith(("rtx/", "red/", "ulpfec/")):
                out.append(f"a=fmtp:{pt} x-google-start-bitrate={kbps}")
    return "\r\n".join(out)


def echo_room_owner(room_id: str) -> str | None:
    """The user whose pre-call echo room this is, or None for an interview."""
    return room_id[len(ECHO_PREFIX):] if room_id.startswith(ECHO_PREFIX) else None

log = logging.getLogger(__name__)

Handler = Callable[["Connection", Any], Awaitable[dict[str, Any] | None]]
IsMember = Callable[[str], Awaitable[bool]]


def media_config(settings: Settings, *, on_refused_candidate: Callable[[Refusal], None] | None = None) -> MediaConfig:
    """The media part of the settings, validated (raises ValueError with what is wrong)."""
    listen = tuple(a.strip() for a in settings.media_listen_address.split(",") if a.strip())
    announced = settings.media_announced_address.strip() or None
    if "0.0.0.0" in listen and announced is None:
        raise ValueError("media_listen_address 0.0.0.0 needs media_announced_address: candidates must name an address")
    ports = None
    if settings.media_port_range.strip():
        first, _, last = settings.media_port_range.partition("-")
        try:
            ports = range(int(first), int(last) + 1)
        except ValueError:
            raise ValueError("media_port_range must be FIRST-LAST, e.g. 40000-40999") from None
        if not 1024 <= ports.start <= ports.stop - 1 <= 65535:
            raise ValueError("media_port_range must lie within 1024-65535, first port not above the last")
    if settings.media_drop_timeout_s <= 0 or settings.media_max_participants < 2:
        raise ValueError("media_drop_timeout_s must be positive and media_max_participants at least 2")
    if not MIN_STATS_EVERY_MS <= settings.media_report_every_ms <= MAX_STATS_EVERY_MS:
        raise ValueError(f"media_report_every_ms must be from {MIN_STATS_EVERY_MS} to {MAX_STATS_EVERY_MS}")
    if settings.media_video_min_fps < 0 or settings.media_video_min_kbps < 0 \
            or not 0 < settings.media_video_max_loss <= 1:
        raise ValueError("media_video_min_fps and media_video_min_kbps must not be negative, media_video_max_loss "
                         "must be a fraction in (0, 1]")
    if not (settings.media_fallback_after_s > 0 and settings.media_fallback_hold_s > 0
            and 0 < settings.media_fallback_retry_s <= settings.media_fallback_retry_max_s):
        raise ValueError("media_fallback_after_s, _retry_s and _hold_s must be positive, media_fallback_retry_s "
                         "not above media_fallback_retry_max_s")
    if not 0 <= settings.media_retransmit_share <= 1:
        raise ValueError("media_retransmit_share must be a fraction in [0, 1]")
    links = LinkConfig(
        floors=Floors(min_fps=settings.media_video_min_fps, min_kbps=settings.media_video_min_kbps,
                      max_loss=settings.media_video_max_loss),
        timings=FallbackTimings(after_s=settings.media_fallback_after_s, retry_s=settings.media_fallback_retry_s,
                                retry_max_s=settings.media_fallback_retry_max_s,
                                hold_s=settings.media_fallback_hold_s),
        report_every_ms=settings.media_report_every_ms)
    return MediaConfig(
        addresses=HostAddresses(listen, announced, ports, CandidatePolicy.from_settings(
            settings, listen=listen, announced=announced, on_refused=on_refused_candidate)),
        ice=IceServerConfig.from_settings(settings.ice_servers, turn_secret=settings.turn_secret,
                                          turn_ttl_s=settings.turn_ttl_s),
        drop_timeout_s=settings.media_drop_timeout_s, max_participants=settings.media_max_participants,
        transport_cc=settings.media_transport_cc, links=links,
        retransmit=RetransmitPolicy(share=settings.media_retransmit_share))


class MediaService:
    def __init__(self, *, store: Store, config: MediaConfig, precall_max_s: float, metrics: Metrics):
        forwarder.check_aiortc()
        self.config = config
        self.rooms: dict[str, MediaRoom] = {}
        self.totals = ForwardingTotals()
        self._store = store
        self._by_conn: dict[Connection, set[str]] = {}
        self._probes: dict[str, EchoProbe] = {}  # the capacity probe of each echo room
        self._precall_max_s = precall_max_s
        # A participant's closed peer connections are cyclic garbage that, with the node's raised
        # collector thresholds, would stay until a full collection that almost never comes: ask
        # for one after each release (rtserver/gcpolicy.py). The lifecycle test checks they go.
        self.collection = FullCollection()
        self.on_interview_closed: Callable[[MediaRoom], None] | None = None  # its outcome (rtserver/outcomes)
        self.journal: Journal = NO_JOURNAL  # the node's access journal (rtserver/audit), set at installation
        # Each interview's links, judged every tick by one task for the whole node (rtserver/media/links.py).
        self.link_counts = LinkCounts()
        self.links: dict[str, LinkMonitor] = {}
        self._links_task: asyncio.Task[None] | None = None
        metrics.registry.register(MediaCollector(self))

    def routes(self) -> dict[type, Handler]:
        return {MediaJoin: self.join, MediaLeave: self.leave, MediaOffer: self.offer, MediaAnswer: self.answer,
                MediaCandidate: self.candidate, MediaRestart: self.restart, MediaStats: self.stats,
                MediaInvite: self.invite, MediaReceive: self.receive, MediaReport: self.report}

    # -- helpers -----------------------------------------------------------------------------------
    def _participant(self, conn: Connection, room_id: str) -> tuple[MediaRoom, Participant]:
        room = self.rooms.get(room_id)
        participant = None if room is None else room.participants.get(conn.user_id)
        if room is None or participant is None or participant.conn is not conn:
            raise Forbidden(f"join the interview {room_id!r} first (media_join)", code=ErrorCode.NOT_JOINED)
        return room, participant

    def _is_member(self, room_id: str, known: dict[str, bool] | None = None) -> IsMember:
        """Whether a user is a member of chat room ``room_id`` now, read from the store once per
        user for the life of the returned function (one check of one room); ``known``: answers
        already read."""
        known = {} if known is None else known

        async def is_member(user: str) -> bool:
            if user not in known:
                known[user] = await self._store.member_role(room_id, user) is not None
            return known[user]
        return is_member

    @staticmethod
    async def _standing(room: MediaRoom, user: str, *, guest: bool, is_member: IsMember) -> str | None:
        """None while ``user`` may be in the interview; otherwise why not: ``removed`` (not a member,
        nor a guest with an invitation) or ``inviter_removed`` (a guest whose inviter is no longer
        a member: an invitation lasts as long as its inviter's right to be there). A participant
        who came in as a member does not stay on as a guest: he would keep his role's rights."""
        if await is_member(user):
            return None
        inviter = room.invited.get(user)
        if not guest or inviter is None or inviter == user:
            return "removed"
        return None if await is_member(inviter) else "inviter_removed"

    async def _authorized(self, conn: Connection, room_id: str) -> tuple[MediaRoom, Participant]:
        """The caller's participant, if it may still be in the interview (read from the store on every
        request: one lookup, two for a guest). If not, it is taken out and the request refused."""
        room, participant = self._participant(conn, room_id)
        if room.echo:
            return room, participant
        reason = await self._standing(room, participant.user_id, guest=participant.role == GUEST,
                                      is_member=self._is_member(room_id))
        if reason is not None:
            await self._expel_and_recheck(room, [(participant, reason)])
            raise Forbidden(f"you may no longer take part in the interview {room_id!r} "
                            "(not a member, or whoever invited you no longer is)")
        return self._participant(conn, room_id)  # again: it may have been taken out meanwhile

    def _expel(self, room: MediaRoom, participant: Participant, reason: str) -> None:
        """Take out a participant who may no longer be there: ``media_closed`` to it, ``left`` to the others."""
        if room.participants.get(participant.user_id) is not participant:
            return  # already gone (a concurrent check, or it left)
        log.info("interview %s: %s may no longer take part (%s)", personal(room.id), personal(participant.user_id),
                 reason)
        participant.post(events.media_closed(room.id, reason))
        if participant.conn is not None:
            self._forget(participant.conn, room.id)
        room.remove(participant, reason)

    async def _expel_and_recheck(self, room: MediaRoom, expelled: Iterable[tuple[Participant, str]]) -> None:
        """Expel these, then re-check the rest of the room: the guests they invited go with them."""
        for participant, reason in expelled:
            self._expel(room, participant, reason)
        await self.recheck(room.id)

    async def revalidate(self, room_id: str) -> None:
        """Re-check everyone in the interview against the chat room's current members, and expel
        who may no longer be there; invitations whose inviter is no longer a member end too.

        Store load: one ``member_role`` per participant (at most ``media_max_participants``, 4)
        plus one per inviter not in the interview (an advisor who invited, then left it), each
        user looked up once. At the node heartbeat (4 s) a node hosting 100 interviews of 3 makes
        about 300 point reads per beat, 75 per second: small next to the chat's own traffic.
        """
        room = self.rooms.get(room_id)
        if room is None or room.echo:
            return
        is_member = self._is_member(room_id)
        verdicts = [(p, await self._standing(room, p.user_id, guest=p.role == GUEST, is_member=is_member))
                    for p in list(room.participants.values())]
        for guest, inviter in list(room.invited.items()):  # a guest invited earlier cannot come in later
            if not await is_member(inviter) and room.invited.get(guest) == inviter:
                del room.invited[guest]
        for participant, reason in verdicts:
            if reason is not None:
                self._expel(room, participant, reason)

    async def recheck(self, room_id: str) -> None:
        """``revalidate``, logging a store failure: nobody is expelled on a failed read, and the
        next heartbeat tries again."""
        try:
            await self.revalidate(room_id)
        except RtError as exc:
            log.warning("interview %s: could not re-check its participants: %s", personal(room_id), exc.message)

    async def recheck_all(self) -> None:
        """``recheck`` every interview held here (the heartbeat's backstop for a missed removal)."""
        for room_id in [r for r, room in self.rooms.items() if not room.echo]:
            await self.recheck(room_id)

    def _on_empty(self, room: MediaRoom) -> None:
        if self.rooms.get(room.id) is room:
            del self.rooms[room.id]
            probe = self._probes.pop(room.id, None)
            if probe is not None:
                probe.close()
        if room.outcome is not None and self.on_interview_closed is not None:
            self.on_interview_closed(room)
        monitor = self.links.get(room.id)
        if monitor is not None and monitor.room is room:
            del self.links[room.id]

    def _monitor(self, room: MediaRoom) -> LinkMonitor:
        """The interview's link monitor (created with it; the node's ticking task started with the first)."""
        monitor = self.links.get(room.id)
        if monitor is None or monitor.room is not room:
            monitor = self.links[room.id] = LinkMonitor(room, self.config.links, self.link_counts)
        if self._links_task is None or self._links_task.done():
            self._links_task = asyncio.create_task(self._tick_links(), name="media-links")
        return monitor

    async def _tick_links(self) -> None:
        tick = self.config.links.tick_s
        while self.links:
            await asyncio.sleep(tick)
            for monitor in list(self.links.values()):
                try:
                    await monitor.tick()
                except Exception:  # one interview's failure must not stop the others' links
                    log.exception("interview %s: judging the links failed", personal(monitor.room.id))

    def peer_connections(self) -> int:
        return sum(p.peer_connections() for r in self.rooms.values() for p in r.participants.values())

    # -- requests ----------------------------------------------------------------------------------
    def _echo_room(self, conn: Connection, room_id: str) -> MediaRoom:
        """The user's own pre-call echo room: their media comes back to them, for ``precall_max_s``."""
        if echo_room_owner(room_id) != conn.user_id:
            raise Forbidden(f"a pre-call check's echo room is {ECHO_PREFIX}<your user id>")
        room = self.rooms.get(room_id)
        if room is None:
            room = self.rooms[room_id] = MediaRoom(room_id, config=self.config, totals=self.totals,
                                                   on_empty=self._on_empty, on_released=self.collection.request,
                                                   echo=True)
            room.expire_after(self._precall_max_s, "timeout")
            self._probes[room_id] = EchoProbe(room)
        return room

    async def _interview_room(self, conn: Connection, room_id: str, request_id: object) -> tuple[MediaRoom, str]:
        """The interview of chat room ``room_id``, and the user's role in it, if they may join."""
        assert conn.identity is not None
        user = conn.user_id
        # The membership first, as chat's join does: a room that does not exist and a room of others
        # then cost the same single lookup and get the same answer (the room is read only after).
        role = await self._store.member_role(room_id, user)
        room = self.rooms.get(room_id)
        # A guest comes in while the advisor who invited them is still a member.
        allowed = role is not None or (room is not None and await self._standing(
            room, user, guest=True, is_member=self._is_member(room_id, known={user: False})) is None)
        chat_room = await self._store.get_room(room_id) if allowed else None
        if chat_room is None:
            if room is not None and user in room.participants:  # still in from before: out now, with its guests
                await self._expel_and_recheck(room, [])
            raise Forbidden(f"room {room_id!r} does not exist or you are not a member")
        if chat_room.kind is RoomKind.BROADCAST:
            raise Forbidden("information sessions (broadcast rooms) have no video")
        await self.journal.room(AccessKind.INTERVIEW_JOIN, conn, room_id, request_id)  # allowed, nothing made yet
        room = self.rooms.get(room_id)  # again: the store calls above may have let others in
        if room is None:
            room = self.rooms[room_id] = MediaRoom(room_id, config=self.config, totals=self.totals,
                                                   on_empty=self._on_empty, on_released=self.collection.request)
        return room, str(conn.identity.role) if role is not None else GUEST

    async def join(self, conn: Connection, req: MediaJoin) -> dict[str, Any]:
        assert conn.identity is not None
        user = conn.user_id
        if echo_room_owner(req.room) is not None:
            room, kind = self._echo_room(conn, req.room), str(conn.identity.role)
        else:
            room, kind = await self._interview_room(conn, req.room, req.id)
        if user not in room.participants and len(room.participants) >= self.config.max_participants:
            raise LimitExceeded(f"an interview has at most {self.config.max_participants} participants",
                                code=ErrorCode.ROOM_FULL)
        participant, resumed = room.admit(user_id=user, name=conn.identity.name, role=kind, conn=conn)
        self._by_conn.setdefault(conn, set()).add(room.id)
        if not room.echo:
            self._monitor(room).joined(participant)
        return events.media_joined_reply(
            req.id, room.id, user, kind, resumed,
            participants=[p.describe() for p in room.participants.values() if p is not participant],
            tracks=[p.describe() for p in room.publications_of(user)],
            ice_servers=self.config.ice.for_user(user, time.time()),
            drop_timeout_ms=int(self.config.drop_timeout_s * 1000),
            report_every_ms=self.config.links.report_every_ms)

    async def leave(self, conn: Connection, req: MediaLeave) -> dict[str, Any]:
        room, participant = self._participant(conn, req.room)
        self._forget(conn, room.id)
        task = room.remove(participant, "left")
        if task is not None:
            await asyncio.shield(task)
        return events.ok_reply(req.id)

    async def offer(self, conn: Connection, req: MediaOffer) -> dict[str, Any]:
        room, participant = await self._authorized(conn, req.room)
        try:
            sdp = await participant.publisher.apply_offer(req.sdp, req.restart)
            if room.echo:
                sdp = with_start_bitrate(sdp, ECHO_START_KBPS)
        except forwarder.NoMediaPort as exc:
            raise Unavailable(f"this node has no free media port ({exc}); try again later",
                              retry_after_ms=5000) from None
        return events.media_answer_reply(
            req.id, room.id, sdp, [p.describe() | {"mid": p.mid} for p in room.publications_of(participant.user_id)])

    async def answer(self, conn: Connection, req: MediaAnswer) -> dict[str, Any]:
        _, participant = await self._authorized(conn, req.room)
        await participant.subscriber.apply_answer(req.sdp)
        return events.ok_reply(req.id)

    async def candidate(self, conn: Connection, req: MediaCandidate) -> dict[str, Any] | None:
        _, participant = await self._authorized(conn, req.room)
        candidate = None
        if req.candidate is not None:
            try:
                candidate = forwarder.parse_candidate(req.candidate.candidate, req.candidate.sdp_mid,
                                                      req.candidate.sdp_mline_index)
            except ValueError as exc:
                raise RtError(str(exc), code=ErrorCode.INVALID_MESSAGE) from None
        session = participant.publisher if req.pc is PcRole.PUBLISH else participant.subscriber
        await session.add_candidate(candidate)
        return None if req.id is None else events.ok_reply(req.id)

    async def restart(self, conn: Connection, req: MediaRestart) -> dict[str, Any]:
        _, participant = await self._authorized(conn, req.room)
        await participant.subscriber.restart()
        return events.ok_reply(req.id)

    async def stats(self, conn: Connection, req: MediaStats) -> dict[str, Any]:
        room, participant = await self._authorized(conn, req.room)
        if participant.role != str(Role.ADVISOR) and not room.echo:
            raise Forbidden("connection quality is shown to the interview's advisor")
        if req.every_ms is not None:
            if participant.stats_task is not None:
                participant.stats_task.cancel()
                participant.stats_task = None
            if req.every_ms:
                participant.stats_task = asyncio.create_task(self._stats_every(room, participant, req.every_ms / 1000),
                                                             name=f"media-stats-{room.id}")
        return events.media_stats_reply(req.id, **await self._room_stats(room))

    async def _room_stats(self, room: MediaRoom) -> dict[str, Any]:
        """The room's statistics; an echo room's carry its capacity probe (docs/precall.md)."""
        stats = await room.stats()
        probe = self._probes.get(room.id) if room.echo else None
        if probe is not None:
            stats["probe"] = probe.report()
        return stats

    async def _stats_every(self, room: MediaRoom, participant: Participant, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            participant.post(events.media_stats(**await self._room_stats(room)))

    async def receive(self, conn: Connection, req: MediaReceive) -> dict[str, Any]:
        _, participant = await self._authorized(conn, req.room)
        participant.subscriber.set_receive_video(req.video)
        return events.ok_reply(req.id)

    async def report(self, conn: Connection, req: MediaReport) -> dict[str, Any] | None:
        """A participant's figures (``media_report``). Not re-checked against the store like the other
        requests: one comes every 2 s from everyone, it changes nothing but the sender's own video,
        and the heartbeat's re-check (``node_heartbeat_s``) ends a removed member's session anyway."""
        room, participant = self._participant(conn, req.room)
        monitor = None if room.echo else self.links.get(room.id)
        if monitor is not None and monitor.room is room:
            monitor.report(participant, req)
        return None if req.id is None else events.ok_reply(req.id)

    async def invite(self, conn: Connection, req: MediaInvite) -> dict[str, Any]:
        room, participant = await self._authorized(conn, req.room)
        if participant.role != str(Role.ADVISOR):
            raise Forbidden("only the advisor invites to an interview")
        room.invited[req.user] = participant.user_id
        return events.ok_reply(req.id)

    # -- lifecycle ---------------------------------------------------------------------------------
    def _forget(self, conn: Connection, room_id: str) -> None:
        rooms = self._by_conn.get(conn)
        if rooms is not None:
            rooms.discard(room_id)
            if not rooms:
                del self._by_conn[conn]

    def connection_closed(self, conn: Connection) -> None:
        """The WebSocket is gone: its participants wait ``drop_timeout_s`` for it to come back."""
        for room_id in self._by_conn.pop(conn, set()):
            room = self.rooms.get(room_id)
            participant = None if room is None else room.participants.get(conn.user_id)
            if room is not None and participant is not None and participant.conn is conn:
                room.dropped(participant)

    async def close(self) -> None:
        """Close every room and peer connection (server shutdown)."""
        rooms = list(self.rooms.values())
        with contextlib.suppress(Exception):
            await asyncio.gather(*(room.close("shutdown") for room in rooms))
        self.rooms.clear()
        for probe in self._probes.values():
            probe.close()
        self._probes.clear()
        self._by_conn.clear()
        self.links.clear()
        if self._links_task is not None:
            self._links_task.cancel()
            await asyncio.gather(self._links_task, return_exceptions=True)
        self.collection.close()
