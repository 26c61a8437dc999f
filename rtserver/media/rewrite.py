"""Pure RTP forwarding arithmetic: renumbering, keyframe detection, keyframe-request pacing.

No asyncio, no aiortc: plain state machines driven with packet fields and a clock value, so
they are unit-tested without sockets. The aiortc side (``forwarder.py``) feeds them.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = [
    "KEYFRAME_DETECTORS", "BitrateCap", "KeyframeHold", "KeyframePacer", "StreamRewriter", "h264_keyframe_start",
    "seq_newer", "vp8_keyframe_start",
]

SEQ_MOD = 1 << 16
TS_MOD = 1 << 32
START_GUARD = 0x1000  # packets after a (re)start during which older ones are recognised as such


def seq_newer(a: int, b: int) -> bool:
    """True when sequence number ``a`` comes after ``b`` (RFC 3550 wrap-around arithmetic)."""
    return 0 < (a - b) % SEQ_MOD < SEQ_MOD // 2


class StreamRewriter:
    """Maps one subscriber's incoming packets onto one continuous outgoing RTP stream.

    The outgoing stream keeps the subscriber's sender SSRC for the life of its transceiver,
    while its source may change: the publisher reconnects with a new SSRC, or another track
    reuses the transceiver. After ``restart()``, the next packet mapped continues the outgoing
    numbering one past the last packet sent, with a timestamp advanced by the wall-clock time
    elapsed, so the receiver sees a single stream with neither a gap nor a jump in time.
    Packets older than the one the stream (re)started with are refused (``map`` returns None):
    they belong to frames the subscriber never got the start of.
    """

    __slots__ = ("_clock_rate", "_highest_in", "_last_seq", "_last_time", "_last_ts", "_seq_offset", "_start_seq",
                 "_started", "_ts_offset")

    def __init__(self, clock_rate: int, *, first_seq: int, first_ts: int):
        self._clock_rate = clock_rate
        self._last_seq = (first_seq - 1) % SEQ_MOD  # last outgoing sequence number
        self._last_ts = first_ts % TS_MOD
        self._last_time: float | None = None
        self._seq_offset = 0
        self._ts_offset = 0
        self._start_seq: int | None = None
        self._highest_in = 0
        self._started = False

    @property
    def started(self) -> bool:
        return self._started

    def restart(self) -> None:
        """The source changes (or stopped): the next packet mapped starts a new stretch."""
        self._started = False

    def map(self, seq: int, ts: int, now: float) -> tuple[int, int] | None:
        """The outgoing (sequence number, timestamp) for an incoming packet, or None to drop it."""
        if not self._started:
            self._started = True
            out_seq = (self._last_seq + 1) % SEQ_MOD
            if self._last_time is None:
                out_ts = self._last_ts
            else:
                elapsed = max(1, int((now - self._last_time) * self._clock_rate))
                out_ts = (self._last_ts + elapsed) % TS_MOD
            self._seq_offset = (out_seq - seq) % SEQ_MOD
            self._ts_offset = (out_ts - ts) % TS_MOD
            self._start_seq = seq
            self._highest_in = seq
        elif self._start_seq is not None:
            ahead = (seq - self._start_seq) % SEQ_MOD
            if ahead >= SEQ_MOD // 2:
                return None  # from before the start of this stretch
            if ahead > START_GUARD:
                self._start_seq = None  # far enough in: ordinary wrap-around rules from now on
        out_seq = (seq + self._seq_offset) % SEQ_MOD
        out_ts = (ts + self._ts_offset) % TS_MOD
        if seq == self._highest_in or seq_newer(seq, self._highest_in):
            self._highest_in = seq
            self._last_seq = out_seq
            self._last_ts = out_ts
            self._last_time = now
        return out_seq, out_ts


def vp8_keyframe_start(payload: bytes) -> bool:
    """True for the first packet of a VP8 keyframe (RFC 7741 payload descriptor, then the P bit)."""
    size = len(payload)
    if size < 2:
        return False
    first = payload[0]
    if not first & 0x10 or first & 0x07:  # S (start of partition) set and partition index 0
        return False
    pos = 1
    if first & 0x80:  # X: extension octet follows
        ext = payload[1]
        pos = 2
        if ext & 0x80:  # I: picture id, 7 or 15 bits
            if pos >= size:
                return False
            pos += 2 if payload[pos] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            pos += 1
        if ext & 0x30:  # T or K: TID/Y/KEYIDX octet
            pos += 1
    return pos < size and not payload[pos] & 0x01  # P bit 0: a key frame


H264_IDR = 5
H264_SPS = 7
H264_STAP_A = 24
H264_FU_A = 28


def h264_keyframe_start(payload: bytes) -> bool:
    """True for a packet that starts an H.264 keyframe: an SPS or IDR NAL unit (RFC 6184)."""
    if not payload:
        return False
    nal = payload[0] & 0x1F
    if nal in (H264_IDR, H264_SPS):
        return True
    if nal == H264_STAP_A:
        pos = 1
        while pos + 2 < len(payload):
            size = (payload[pos] << 8) | payload[pos + 1]
            if payload[pos + 2] & 0x1F in (H264_IDR, H264_SPS):
                return True
            pos += 2 + size
        return False
    if nal == H264_FU_A and len(payload) >= 2:
        return bool(payload[1] & 0x80) and payload[1] & 0x1F == H264_IDR
    return False


# codec name (upper case, as in SDP) -> detector; video codecs without one are forwarded ungated
KEYFRAME_DETECTORS: dict[str, Callable[[bytes], bool]] = {
    "VP8": vp8_keyframe_start,
    "H264": h264_keyframe_start,
}


T = TypeVar("T")


class KeyframeHold(Generic[T]):
    """The last packets a stream waiting for a keyframe did not forward, so that those of the
    keyframe that reached the node before its first packet go out right after it.

    A sender writes a keyframe's packets back to back (aiortc: the whole frame at once; Chromium:
    paced, a few milliseconds apart), and a link with jitter reorders them: over the pre-call
    matrix's rtt100 (±10 ms each way) some of them overtook the first one. The gate opens on that
    first packet (the only one that says "keyframe"); what overtook it was dropped, the subscriber
    got a keyframe with holes no NACK could fill (the node never sent those packets, its
    retransmission history had nothing for them) and decoded no frame of that video in 4 runs of 5.

    ``add`` keeps the last ``size`` packets; ``release(key_seq)`` gives back, once, those after the
    keyframe's first packet (at most ``size`` numbers after it, RFC 3550 wrap-around), in sequence
    order, each number once; what came before it belongs to frames the subscriber never had the
    start of and is forgotten.
    """

    __slots__ = ("_packets", "_size")

    def __init__(self, size: int):
        self._size = size
        self._packets: collections.deque[tuple[int, T]] = collections.deque(maxlen=size)

    def add(self, seq: int, packet: T) -> None:
        self._packets.append((seq, packet))

    def clear(self) -> None:
        self._packets.clear()

    def release(self, key_seq: int) -> list[T]:
        after: dict[int, T] = {}
        for seq, packet in self._packets:
            ahead = (seq - key_seq) % SEQ_MOD
            if 0 < ahead <= self._size:
                after.setdefault(ahead, packet)
        self._packets.clear()
        return [after[ahead] for ahead in sorted(after)]


class KeyframePacer:
    """Decides when a keyframe request (PLI) may go to a publisher: at most one per interval.

    ``request`` answers whether to send one now; a request refused for being too soon stays
    pending, and ``due`` says how long until it may go (the caller arms a timer, then ``fire``).
    """

    __slots__ = ("_interval_s", "_last", "_pending")

    def __init__(self, min_interval_s: float):
        self._interval_s = min_interval_s
        self._last = -math.inf
        self._pending = False

    @property
    def pending(self) -> bool:
        return self._pending

    def request(self, now: float) -> bool:
        if now - self._last >= self._interval_s:
            self._last = now
            self._pending = False
            return True
        self._pending = True
        return False

    def due(self, now: float) -> float | None:
        """Seconds until the pending request may be sent; None when nothing is pending."""
        if not self._pending:
            return None
        return max(0.0, self._last + self._interval_s - now)

    def fire(self, now: float) -> bool:
        """Send the pending request now if its time has come."""
        if self._pending and now - self._last >= self._interval_s:
            self._last = now
            self._pending = False
            return True
        return False


class BitrateCap:
    """When to send a publisher its bitrate target (computed by ``bandwidth.BandwidthPolicy``): the
    lowest of the values given.

    ``update`` returns the value to send in a REMB now, or None: a new value goes out at once
    when it is lower by more than ``drop_ratio`` (a subscriber's link got worse), otherwise at
    most once per ``refresh_s`` (estimates rise slowly and a REMB must be refreshed anyway).
    """

    __slots__ = ("_drop_ratio", "_last_sent", "_last_value", "_refresh_s")

    def __init__(self, *, refresh_s: float = 1.0, drop_ratio: float = 0.05):
        self._refresh_s = refresh_s
        self._drop_ratio = drop_ratio
        self._last_sent = -math.inf
        self._last_value: int | None = None

    def update(self, estimates: list[int], now: float) -> int | None:
        if not estimates:
            return None
        value = min(estimates)
        dropped = self._last_value is not None and value < self._last_value * (1 - self._drop_ratio)
        if dropped or now - self._last_sent >= self._refresh_s:
            self._last_sent = now
            self._last_value = value
            return value
        return None
