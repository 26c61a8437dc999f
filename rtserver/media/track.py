"""Published tracks and their subscribers' copies: the forwarding logic of the SFU.

A ``Publication`` is one publisher's camera or microphone. Its source is an ``Inbound`` tap on
the publisher's connection (replaced, without the subscribers noticing, when the publisher
reconnects). Every packet goes to each ``DownTrack`` attached to it: a subscriber's sending
section, which renumbers it into the subscriber's own continuous stream (``StreamRewriter``)
and writes it (``Outbound``). No frame is reassembled, decoded or re-encoded.

Keyframes: a video DownTrack that starts (subscriber joined, reconnected, or source changed)
forwards nothing until a keyframe starts (the packets of that keyframe that overtook its first
one on the way are held, and go out right after it), and its publication asks the publisher for
one (PLI) at most twice a second, again and again until every waiting DownTrack got its keyframe. A
subscriber's own PLI/FIR becomes one such request. Bandwidth: the publisher is asked (REMB) for
what the weakest subscriber's link leaves its video once that subscriber's audio, retransmissions
and keyframes are served; estimates that never saw congestion do not pull it under its start
rate, and the node's own uplink estimate counts only after it fell (rtserver/media/bandwidth.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from ..tasks import BackgroundTasks
from .bandwidth import RESUME_GRACE_S, BandwidthPolicy, EstimateTrend
from .forwarder import CodecSpec, Inbound, Outbound, RtpPacket
from .rewrite import KEYFRAME_DETECTORS, BitrateCap, KeyframeHold, KeyframePacer, StreamRewriter

__all__ = ["DownTrack", "ForwardingTotals", "Publication"]

log = logging.getLogger(__name__)

KEYFRAME_REQUEST_INTERVAL_S = 0.5  # at most 2 keyframe requests per second per track
# Packets a video DownTrack waiting for a keyframe keeps, for those of the keyframe that overtake its
# first packet (``KeyframeHold``): a 640x480 VP8 keyframe is 20-60 kB, 15-50 packets of 1.2 kB, and
# the packets of the frame before it may be interleaved; 128 covers a 150 kB keyframe.
KEYFRAME_HOLD_PACKETS = 128
BANDWIDTH = BandwidthPolicy()


class ForwardingTotals:
    """Counters that outlive tracks (for /metrics): what closed tracks forwarded."""

    __slots__ = ("bytes_forwarded", "keyframe_requests", "packets_forwarded", "packets_received",
                 "subscriber_keyframe_requests")

    def __init__(self) -> None:
        self.packets_received = {"audio": 0, "video": 0}
        self.packets_forwarded = {"audio": 0, "video": 0}
        self.bytes_forwarded = {"audio": 0, "video": 0}
        self.keyframe_requests = 0
        self.subscriber_keyframe_requests = 0


class Publication:
    """One published track and its fan-out. Owned by its room; ``close()`` when it is unpublished."""

    def __init__(self, *, track_id: str, owner: str, mid: str, codec: CodecSpec, totals: ForwardingTotals,
                 limit_bitrate: bool = True, policy: BandwidthPolicy = BANDWIDTH):
        self.id = track_id
        self.owner = owner
        # False in a pre-call echo room: the sender ramps up by its own congestion control, so the
        # check measures what the network carries, not how fast the node's estimators warm up.
        self.limit_bitrate = limit_bitrate
        self.mid = mid
        self.codec = codec
        self.kind = codec.kind
        self.inbound: Inbound | None = None
        self.downtracks: set[DownTrack] = set()
        self.packets = 0
        self.frames = 0
        self.keyframes = 0
        self.keyframe_requests = 0
        self.created = time.monotonic()
        self._detect = KEYFRAME_DETECTORS.get(codec.name) if self.kind == "video" else None
        self._pacer = KeyframePacer(KEYFRAME_REQUEST_INTERVAL_S)
        self._bitrate = BitrateCap()
        self._policy = policy
        self._uplink_trend = EstimateTrend()
        self._timer: asyncio.TimerHandle | None = None
        self._tasks = BackgroundTasks("RTCP to publisher", logger=log, level=logging.WARNING)
        self._source_ssrc: int | None = None
        # Told of every first transmission with its arrival time: the pre-call echo room's capacity
        # probe reads the packets' send times from it (rtserver.media.echo). None elsewhere.
        self.observer: Callable[[RtpPacket, float], None] | None = None
        self._totals = totals
        self._closed = False

    @property
    def gated(self) -> bool:
        """Whether a starting subscriber must wait for a keyframe (video with a known codec)."""
        return self._detect is not None

    def describe(self) -> dict[str, Any]:
        return {"track": self.id, "kind": self.kind, "codec": self.codec.to_wire()}

    def attach_source(self, inbound: Inbound) -> None:
        """Take packets from ``inbound`` (a new publish connection) instead of the previous source."""
        if self.inbound is inbound:
            return
        if self.inbound is not None and self.inbound.handler is self:
            self.inbound.handler = None
        self.inbound = inbound
        inbound.handler = self

    # -- InboundHandler ---------------------------------------------------------------------
    async def on_packet(self, packet: RtpPacket, retransmitted: bool, arrival_ntp: int) -> None:
        if self._closed:
            return
        if packet.ssrc != self._source_ssrc:
            switched = self._source_ssrc is not None
            self._source_ssrc = packet.ssrc
            if switched:  # the publisher reconnected: every subscriber starts over at a keyframe
                for downtrack in self.downtracks:
                    downtrack.restart()
        key = False
        now = time.monotonic()
        if not retransmitted:
            if self.observer is not None:
                self.observer(packet, now)
            self.packets += 1
            if packet.marker:
                self.frames += 1
            if self._detect is not None and self._detect(packet.payload):
                key = True
                self.keyframes += 1
        for downtrack in list(self.downtracks):
            await downtrack.forward(packet, key, arrival_ntp, now)

    @property
    def uplink_congested(self) -> bool:
        """Whether the node's estimate of the publisher's uplink fell (overuse) since it started over."""
        return self._uplink_trend.congested

    def restart_uplink(self) -> None:
        """The publisher sends video again after a pause the node asked for: its uplink is estimated
        afresh. The old estimate fell when the link was thin and has seen only the audio since; kept,
        it held the publisher's REMB at 30 kbit/s for ``uplink_hold_s`` after the link was restored
        (Chromium then sent 40-50 kbit/s, 5-10 fps, and the trial of video failed on a good link)."""
        self._uplink_trend = EstimateTrend()
        if self.inbound is not None:
            self.inbound.restart_uplink_estimate()
        self.update_bitrate()

    def on_uplink_estimate(self, bitrate_bps: int) -> None:
        self._uplink_trend.update(bitrate_bps, time.monotonic())
        self.update_bitrate()

    # -- keyframes ----------------------------------------------------------------------------
    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe now, or as soon as the rate limit allows."""
        if self.kind != "video" or self._closed:
            return
        if self._pacer.request(time.monotonic()):
            self._send_pli()
        else:
            self._arm(self._pacer.due(time.monotonic()) or 0.0)

    def _send_pli(self) -> None:
        if self.inbound is not None:
            self._tasks.spawn(self._pli(self.inbound))
        if any(d.waiting_keyframe for d in self.downtracks):
            self._arm(KEYFRAME_REQUEST_INTERVAL_S)  # repeat until every starting subscriber has one

    async def _pli(self, inbound: Inbound) -> None:
        if await inbound.send_pli():
            self.keyframe_requests += 1

    def _arm(self, delay_s: float) -> None:
        if self._timer is None and not self._closed:
            self._timer = asyncio.get_running_loop().call_later(delay_s, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        now = time.monotonic()
        if self._pacer.fire(now):
            self._send_pli()
        elif any(d.waiting_keyframe for d in self.downtracks):
            self.request_keyframe()

    # -- bandwidth ---------------------------------------------------------------------------
    def update_bitrate(self) -> None:
        """Send the publisher what its weakest subscriber's link leaves the video (``BandwidthPolicy``)."""
        if self.kind != "video" or self.inbound is None or self._closed or not self.limit_bitrate:
            return
        now = time.monotonic()
        subscribers = [(d.outbound.remb_bps, d.audio_streams(), d.remb_trend.congested)
                       for d in self.downtracks if d.outbound.remb_bps and not d.paused]
        estimate = self.inbound.uplink_estimate_bps
        uplink = (estimate, self._uplink_trend.fell_at) if estimate else None
        target = self._policy.publisher_target(subscribers, uplink, now)
        value = self._bitrate.update([] if target is None else [target], now)
        if value is not None:
            self._tasks.spawn(self.inbound.send_remb(value))

    def stats(self) -> dict[str, Any]:
        out = {**self.describe(), "frames": self.frames, "keyframes": self.keyframes,
               "subscribers": len(self.downtracks)}
        if self.inbound is not None:
            out.update(self.inbound.stats())
        out["keyframe_requests"] = self.keyframe_requests
        return out

    def close(self) -> None:
        """Stop forwarding: subscribers are detached, timers and RTCP tasks cancelled."""
        if self._closed:
            return
        self._closed = True
        for downtrack in list(self.downtracks):
            downtrack.detach()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._tasks.cancel()
        if self.inbound is not None and self.inbound.handler is self:
            self.inbound.handler = None  # the section may be published again (camera back on)
        self._totals.packets_received[self.kind] += self.packets
        self._totals.keyframe_requests += self.keyframe_requests


class DownTrack:
    """One sending section of a subscriber's connection; carries one publication at a time."""

    def __init__(self, *, subscriber: str, outbound_factory: Any, codec: CodecSpec, totals: ForwardingTotals,
                 audio_streams: Callable[[], int] | None = None):
        self.subscriber = subscriber
        # How many audio streams the subscriber receives besides this video (its link carries them
        # too); unknown: one, the publisher's own microphone.
        self.audio_streams: Callable[[], int] = audio_streams or (lambda: 1)
        self.remb_trend = EstimateTrend()  # whether the subscriber's estimate ever fell (congestion)
        self.codec = codec
        self.kind = codec.kind
        self.outbound: Outbound = outbound_factory(self)
        self.rewriter = StreamRewriter(codec.clock_rate, first_seq=random.randrange(1 << 15),
                                       first_ts=random.randrange(1 << 32))
        self.publication: Publication | None = None
        self.negotiated = False  # the subscriber applied an offer in which this section carries the publication
        self.waiting_keyframe = False
        self.waiting_since: float | None = None
        self.last_keyframe_wait_ms: float | None = None
        self._held: KeyframeHold[RtpPacket] = KeyframeHold(KEYFRAME_HOLD_PACKETS)
        self.paused = False  # the subscriber asked not to receive this kind (audio-only on a weak link)
        self._totals = totals
        self._closed = False

    @property
    def mid(self) -> str | None:
        return self.outbound.transceiver.mid

    def attach(self, publication: Publication) -> None:
        self.detach()
        self.publication = publication
        publication.downtracks.add(self)
        self.restart()

    def detach(self) -> None:
        if self.publication is not None:
            self.publication.downtracks.discard(self)
            self.publication = None
        self.waiting_keyframe = False
        self._held.clear()
        self.rewriter.restart()

    def restart(self) -> None:
        """Start a new stretch of the outgoing stream (at a keyframe for video)."""
        self.rewriter.restart()
        self._held.clear()  # from the stretch before: not this one's keyframe
        publication = self.publication
        if publication is None or not self.outbound.ready or not self.negotiated:
            return
        if publication.gated:
            self.waiting_keyframe = True
            self.waiting_since = time.monotonic()
        publication.request_keyframe()

    def set_paused(self, paused: bool) -> None:
        """Stop or resume forwarding; resuming starts at a keyframe, and a paused subscriber's
        bandwidth estimate no longer holds the publisher's bitrate down."""
        if paused == self.paused:
            return
        self.paused = paused
        if not paused:
            self.restart()
            # What the subscriber estimated while paused measured a link carrying audio alone (or
            # the congestion that made the node pause it): kept as a ceiling, it held the publisher
            # at 30-80 kbit/s, 5 fps, after a thin downlink was restored, and the trial failed. The
            # estimator itself carries that value on and climbs back slowly: RESUME_GRACE_S.
            self.remb_trend = EstimateTrend.resumed(time.monotonic(), RESUME_GRACE_S)
        if self.publication is not None:
            self.publication.update_bitrate()

    async def forward(self, packet: RtpPacket, key: bool, ntp: int, now: float) -> None:
        if self.paused or not self.outbound.ready or not self.negotiated:
            return
        if self.waiting_keyframe:
            if not key:
                self._held.add(packet.sequence_number, packet)
                return
            await self._open(packet, ntp, now)
            return
        mapped = self.rewriter.map(packet.sequence_number, packet.timestamp, now)
        if mapped is not None:
            await self.outbound.write(packet, mapped[0], mapped[1], ntp, now)

    async def _open(self, key: RtpPacket, ntp: int, now: float) -> None:
        """The keyframe starts: the stream starts at its first packet, followed by the packets after
        it that arrived before it (``KeyframeHold``)."""
        self.waiting_keyframe = False
        if self.waiting_since is not None:
            self.last_keyframe_wait_ms = round((now - self.waiting_since) * 1000, 1)
        self.rewriter.restart()
        for packet in (key, *self._held.release(key.sequence_number)):
            mapped = self.rewriter.map(packet.sequence_number, packet.timestamp, now)
            if mapped is not None:
                await self.outbound.write(packet, mapped[0], mapped[1], ntp, now)

    # -- OutboundHandler ----------------------------------------------------------------------
    def on_ready(self) -> None:
        self.restart()  # the subscriber can receive now: start it at a keyframe

    def on_keyframe_request(self) -> None:
        if self.publication is not None:
            self.publication.request_keyframe()

    def on_remb(self, bitrate_bps: int) -> None:
        self.remb_trend.update(bitrate_bps, time.monotonic(), self.outbound.bytes)
        if self.publication is not None:
            self.publication.update_bitrate()

    async def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mid": self.mid, "kind": self.kind}
        if self.publication is not None:
            out.update(track=self.publication.id, publisher=self.publication.owner)
        out.update(await self.outbound.stats())
        out["waiting_keyframe"] = self.waiting_keyframe
        out["paused"] = self.paused
        if self.last_keyframe_wait_ms is not None:
            out["keyframe_wait_ms"] = self.last_keyframe_wait_ms
        return out

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.detach()
        self.outbound.close()
        self._totals.packets_forwarded[self.kind] += self.outbound.packets
        self._totals.bytes_forwarded[self.kind] += self.outbound.bytes
        self._totals.subscriber_keyframe_requests += self.outbound.keyframe_requests_received
