"""The pre-call check's capacity probe: what the client's uplink carries, measured apart from loss.

    probe = CapacityProbe()
    probe.on_video_packet(arrival_s, abs_send_time)       # every video packet the node receives
    remb_kbps = probe.tick(now, Counters(...))            # every SAMPLE_S; a REMB to send, or None
    probe.report(now)                                     # what media_stats shows the client

The clients measure once ``report()["settled_ms"]`` is set: the sender came down to the hold.

Pure: no sockets, no asyncio; the echo room (``rtserver.media.echo``) feeds it and sends the
REMBs it asks for. See docs/precall.md ("Capacity probe") for the figures.

Why top-down rather than a rising ramp of REMB steps. A browser without transport-wide feedback
(the node gives none) runs Chrome's loss-based estimator capped by the REMB: a lowered REMB cuts
its rate at once, but a raised one is followed only during its first 2 s; after that its own
estimate climbs 8 % per second (Chrome's SendSideBandwidthEstimation), so a ramp of 1-second steps
from 150 to 2500 kbit/s would measure that climb again. So the sender starts high (the echo answer
asks a browser to start at ``PROBE_KBPS``; aiortc's encoder takes the REMB at once) and the node
watches what arrives for up to ``PROBE_S``: a bottleneck narrower than the sender passes exactly
its capacity, and its queue shows as a growing one-way delay (abs-send-time against arrival) or,
once full, as loss. When either shows, the probe stops and the capacity is the rate that got
through; when neither shows, the sender was the limit and the capacity is at least what arrived.
Then the node holds the sender at ``HOLD_FRACTION`` of the capacity (less the audio's share), and
the clients measure loss, jitter and round trip there: loss measured at a rate the link carries is
the link's own, not the overflow of a queue the check filled itself. The hold counts as *settled*
once a step's video reaches the node at no more than ``SETTLED_RATIO`` of the rate held: the sender
came down (a REMB alone does not bring a browser down: Chromium held at 405 kbit/s went on
sending 1.9 Mbit/s, so the browser check caps its encoder too) and the bottleneck's queue, which
passes the link's whole rate while it drains, is empty. The clients' window starts there.
"""

from __future__ import annotations

import dataclasses
import enum
import statistics
from typing import Any

__all__ = [
    "AUDIO_RESERVE_KBPS", "HOLD_FRACTION", "HOLD_MIN_KBPS", "MAX_STEPS", "PACKET_OVERHEAD_BYTES", "PROBE_KBPS",
    "PROBE_S", "QUEUE_DELAY_MS", "SAMPLE_S", "SATURATED_LOSS_PCT", "SETTLED_RATIO", "WARMUP_S", "CapacityProbe",
    "Counters", "DelayTracker", "Phase", "hold_kbps",
]

# The rate the sender is asked to start at and allowed during the probe, kbit/s: above the 1000
# kbit/s of the best video tier (rtserver.precall.verdict.VIDEO_TIERS), so a link that carries it
# is seen to, and aiortc's encoder ceiling (1500). A browser's encoder caps itself lower for a
# small picture (Chrome: 600 kbit/s up to 320x240, 1700 up to 640x480), which is why the browser
# check publishes a 1280x720 synthetic picture.
PROBE_KBPS = 1500
# Each step the probe records lasts this long; the echo room samples the counters at this period.
SAMPLE_S = 0.5
# The first step after the first packet is not judged: a keyframe, the encoder's rate control
# settling, and the first REMB reaching the sender.
WARMUP_S = 0.5
# The probe ends at the latest this long after the first packet (it ends sooner once two steps in a
# row show the bottleneck): at 1500 kbit/s a narrow link's queue fills within one step (the test
# links drop past 50 ms of queue), and the whole check must stay within 15 s.
PROBE_S = 2.5
# One-way queuing delay (median of a step, over the smallest seen) from which the sender is taken
# to exceed the link: the node's own event loop adds a few ms of noise under load; a queue filling
# at a bottleneck adds tens (a 50 ms tbf queue, a phone's much longer buffers).
QUEUE_DELAY_MS = 25.0
# Loss in a step from which the sender is taken to exceed the link even without queuing delay (a
# policer drops without queueing). Random loss also crosses it: then the capacity read is the
# rate that got through (its share of loss under), and the loss is measured again at the hold.
SATURATED_LOSS_PCT = 5.0
# The hold: this share of the capacity, less the audio's share, goes to video. 0.7 leaves the link
# room for retransmissions, keyframes (several times an ordinary frame) and audio's own bursts.
HOLD_FRACTION = 0.7
# Opus at a browser's default rate (about 32 kbit/s) with 50 packets a second of IP/UDP/RTP/SRTP
# headers: the least kept for sound; more when the sound measured during the probe took more
# (aiortc's Opus sends 96 kbit/s, about 120 with its headers).
AUDIO_RESERVE_KBPS = 60
# The lowest REMB the hold sends, kbit/s (a browser's encoder goes no lower than about 30).
HOLD_MIN_KBPS = 50
# The hold is settled once a step's video (headers included) reaches the node at no more than this
# share of the rate held. A sender still above it fills the link: while the queue drains, the node
# receives the link's whole rate, at least 1 / HOLD_FRACTION = 1.43 times the hold; a sender that
# came down arrives within a few percent of its target (the headers, 62 bytes a packet of ~1100,
# add 5 %), and a keyframe in a half-second step adds some more.
SETTLED_RATIO = 1.15
# IPv4 20 + UDP 8 + RTP 12 + header extensions about 12 + SRTP tag 10: what a packet costs the link
# beyond its payload (the node counts payload bytes). The capacity is the link's, headers included.
PACKET_OVERHEAD_BYTES = 62
MAX_STEPS = 8  # what the report (and the stored measurements) carry at most

ABS_SEND_TIME_WRAP = 1 << 24  # abs-send-time: 6.18 fixed-point seconds, wraps every 64 s


class Phase(enum.StrEnum):
    WAITING = "waiting"  # no media yet
    PROBING = "probing"  # the sender runs at PROBE_KBPS; the node watches what gets through
    HOLDING = "holding"  # the sender is held below the capacity found: once settled, the clients measure


@dataclasses.dataclass(frozen=True, slots=True)
class Counters:
    """What the node has received from the client so far (cumulative, audio and video together)."""

    bytes: int  # payload bytes, retransmissions included
    packets: int  # packets, retransmissions included
    expected: int  # packets the sequence numbers say were sent (first transmissions)
    lost: int  # of those, never received
    audio_bytes: int = 0  # the audio's share of ``bytes``
    audio_packets: int = 0  # and of ``packets``


class DelayTracker:
    """One-way delay of each video packet (arrival minus abs-send-time, an unknown constant apart)
    over the smallest seen: how long the packet waited in queues on the way."""

    __slots__ = ("_base", "_last_send", "_send_s", "samples")

    def __init__(self) -> None:
        self._last_send: int | None = None
        self._send_s = 0.0  # the sender's clock, unwrapped, seconds
        self._base: float | None = None
        self.samples: list[float] = []  # queuing delays (ms) since the last take()

    def add(self, arrival_s: float, abs_send_time: int) -> None:
        value = abs_send_time % ABS_SEND_TIME_WRAP
        if self._last_send is None:
            self._send_s = value / (1 << 18)
        else:
            step = (value - self._last_send) % ABS_SEND_TIME_WRAP
            if step >= ABS_SEND_TIME_WRAP // 2:
                step -= ABS_SEND_TIME_WRAP  # reordered: an earlier send time
            self._send_s += step / (1 << 18)
        self._last_send = value
        delay = arrival_s - self._send_s
        if self._base is None or delay < self._base:
            self._base = delay
        self.samples.append((delay - self._base) * 1000)

    def take(self) -> float | None:
        """The median queuing delay (ms) of the packets since the last call, None without any."""
        if not self.samples:
            return None
        median = statistics.median(self.samples)
        self.samples = []
        return median


def hold_kbps(capacity_kbps: float, audio_kbps: float = 0.0) -> int:
    """The video rate the hold asks for, below a link of ``capacity_kbps`` (headers included) that
    also carries ``audio_kbps`` of sound (at least AUDIO_RESERVE_KBPS is kept for it)."""
    return max(HOLD_MIN_KBPS, round(HOLD_FRACTION * capacity_kbps - max(AUDIO_RESERVE_KBPS, audio_kbps)))


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    at_s: float  # since the first packet
    kbps: int  # the REMB the sender had
    recv_kbps: int  # what arrived, headers included
    loss_pct: float
    queue_ms: float | None

    def saturated(self) -> bool:
        return self.loss_pct >= SATURATED_LOSS_PCT or (self.queue_ms is not None and self.queue_ms >= QUEUE_DELAY_MS)

    def to_wire(self) -> dict[str, Any]:
        return {"at_ms": round(self.at_s * 1000), "kbps": self.kbps, "recv_kbps": self.recv_kbps,
                "loss_pct": round(self.loss_pct, 2),
                "queue_ms": None if self.queue_ms is None else round(self.queue_ms, 1)}


class CapacityProbe:
    """The probe of one echo session (see the module's docstring)."""

    def __init__(self) -> None:
        self.phase = Phase.WAITING
        self.target_kbps: int | None = None  # the REMB in force
        self.capacity_kbps: int | None = None
        self.saturated = False  # the capacity is the link's (True) or at least that (the sender's limit)
        self.hold_kbps: int | None = None
        self.hold_recv_kbps: int | None = None  # the video that reached the node in the last step of the hold
        self.settled_at: float | None = None  # when the hold was first seen settled (module docstring)
        self.audio_kbps: int | None = None  # the sound's rate during the probe, headers included
        self.steps: list[Step] = []
        self.delays = DelayTracker()
        self._started: float | None = None
        self._held_at: float | None = None
        self._last: tuple[float, Counters] | None = None
        self._first: tuple[float, Counters] | None = None

    def on_video_packet(self, arrival_s: float, abs_send_time: int | None) -> None:
        if abs_send_time is not None and self.phase is not Phase.HOLDING:
            self.delays.add(arrival_s, abs_send_time)

    def tick(self, now: float, counters: Counters) -> int | None:
        """Take a sample of the counters; returns the REMB (kbit/s) to send now, or None."""
        if self.phase is Phase.WAITING:
            if counters.packets == 0:
                return None
            self.phase, self._started, self._last = Phase.PROBING, now, (now, counters)
            self._first = self._last
            self.delays.take()  # packets before this sample belong to no step
            self.target_kbps = PROBE_KBPS
            return PROBE_KBPS
        assert self._last is not None and self._started is not None
        then, before = self._last
        self._last = (now, counters)
        seconds = max(now - then, 1e-3)
        if self.phase is Phase.HOLDING:
            self._follow_hold(now, seconds, before, counters)
            return None
        wire = counters.bytes - before.bytes + PACKET_OVERHEAD_BYTES * (counters.packets - before.packets)
        expected = counters.expected - before.expected
        lost = max(0, counters.lost - before.lost)
        step = Step(at_s=now - self._started, kbps=self.target_kbps or PROBE_KBPS,
                    recv_kbps=round(wire * 8 / seconds / 1000),
                    loss_pct=min(100.0, 100.0 * lost / expected) if expected > 0 else 0.0,
                    queue_ms=self.delays.take())
        if len(self.steps) < MAX_STEPS:
            self.steps.append(step)
        judged = [s for s in self.steps if s.at_s > WARMUP_S * 1.5]  # samples come late, never early
        two_saturated = len(judged) >= 2 and judged[-1].saturated() and judged[-2].saturated()
        if not two_saturated and now - self._started < PROBE_S - 1e-6:
            return None
        return self._hold(judged or self.steps, now, counters)

    def _follow_hold(self, now: float, seconds: float, before: Counters, counters: Counters) -> None:
        """One step of the hold: the video that reached the node, and whether the hold is settled."""
        assert self.hold_kbps is not None
        video = (counters.bytes - counters.audio_bytes) - (before.bytes - before.audio_bytes)
        video_packets = (counters.packets - counters.audio_packets) - (before.packets - before.audio_packets)
        self.hold_recv_kbps = round((video + PACKET_OVERHEAD_BYTES * video_packets) * 8 / seconds / 1000)
        if self.settled_at is None and self.hold_recv_kbps <= SETTLED_RATIO * self.hold_kbps:
            self.settled_at = now

    def _hold(self, judged: list[Step], now: float, counters: Counters) -> int:
        assert self._first is not None
        started, first = self._first
        audio = counters.audio_bytes - first.audio_bytes + PACKET_OVERHEAD_BYTES * (
            counters.audio_packets - first.audio_packets)
        self.audio_kbps = round(audio * 8 / max(now - started, 1e-3) / 1000)
        saturated = [s for s in judged if s.saturated()]
        self.saturated = bool(saturated)
        # Saturated: what got through while the queue was full is the link's rate. Otherwise the
        # sender set the pace, and its mean rate is what the link is known to carry at least (a
        # browser's encoder sends in bursts: single steps of 1 and 2 Mbit/s around 1.5).
        rates = [s.recv_kbps for s in (saturated or judged)]
        self.capacity_kbps = round(statistics.median(rates)) if self.saturated else round(statistics.mean(rates))
        self.hold_kbps = hold_kbps(self.capacity_kbps, self.audio_kbps) if self.saturated else max(
            HOLD_MIN_KBPS, min(PROBE_KBPS, self.capacity_kbps))
        self.phase, self._held_at, self.target_kbps = Phase.HOLDING, now, self.hold_kbps
        if not self.saturated:
            self.settled_at = now  # the sender set the pace and is held at it: nothing to come down from
        return self.hold_kbps

    def report(self, now: float) -> dict[str, Any]:
        """The probe as ``media_stats`` shows it (``probe``): docs/precall.md."""
        return {"phase": str(self.phase), "target_kbps": self.target_kbps, "capacity_kbps": self.capacity_kbps,
                "saturated": self.saturated, "hold_kbps": self.hold_kbps, "audio_kbps": self.audio_kbps,
                "probe_ms": None if self._started is None else round(
                    ((self._held_at if self._held_at is not None else now) - self._started) * 1000),
                "held_ms": None if self._held_at is None else round((now - self._held_at) * 1000),
                "hold_recv_kbps": self.hold_recv_kbps,
                "settled_ms": None if self.settled_at is None or self._held_at is None else round(
                    (self.settled_at - self._held_at) * 1000),
                "steps": [s.to_wire() for s in self.steps]}
