"""Transport-wide congestion control feedback, receive side: pure (no sockets, no clock, no aiortc).

A browser that negotiates the transport-wide sequence number header extension and the
``transport-cc`` feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01) numbers every
packet it sends on a connection, audio, video, retransmissions and padding probes alike, and
runs its congestion control on the sender's side: it needs to be told, packet by packet, when
each arrived. From that it measures queuing delay (the growth of arrival gaps over send gaps)
and backs off *before* the bottleneck's queue overflows, which a sender guided only by loss and a
receiver's REMB cannot do; and its probes (bursts at 3 and 6 times its start rate, evaluated on
this feedback) find a clean link's capacity in a second or two instead of ramping at 8 %/s.

``FeedbackRecorder`` keeps what arrived; ``build`` turns what arrived since the last feedback
into RTCP transport-feedback packets (RTPFB, FMT 15), each arrival given to 250 microseconds.
Packets that arrive out of order after their range was reported are reported again in the
next feedback (as libwebrtc's receiver does): the sender accepts a packet first reported lost.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["FEEDBACK_INTERVAL_S", "TRANSPORT_CC_URI", "FeedbackRecorder", "parse_feedback"]

TRANSPORT_CC_URI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"

# How often feedback goes out while packets arrive. libwebrtc's receiver sends every 100 ms by
# default (50-250 ms, scaled so that feedback stays near 5 % of the media's rate); at 100 ms a
# 1.5 Mbit/s video (about 150 packets/s) and its sound (50/s) give 20 packets per feedback: 60-80
# bytes, 5-6 kbit/s, under 0.5 % of the media.
FEEDBACK_INTERVAL_S = 0.1

_TICK_US = 250  # a receive delta's unit
_REFERENCE_US = 64_000  # the reference time's unit
# Packets one feedback reports at most: keeps a packet under 1,200 bytes (a chunk of 7 and 7
# deltas of up to 2 bytes: 16 bytes per 7 packets) so that it never needs IP fragmentation. It is
# also well within the packet status count's 16 bits (65,535).
_MAX_PACKETS_PER_FEEDBACK = 500
# How far back an out-of-order packet still moves the next feedback's start: 1 s of history at
# 500 packets/s. Older stragglers are dropped: the sender has long counted them lost.
_REORDER_WINDOW = 500

_NOT_RECEIVED, _SMALL, _LARGE = 0, 1, 2

_RTPFB, _FMT_TRANSPORT_CC = 205, 15


@dataclass(slots=True)
class _Unwrapper:
    """16-bit sequence numbers to a monotonic count (the nearest value to the last one)."""

    last: int | None = None

    def unwrap(self, seq: int) -> int:
        if self.last is None:
            self.last = seq
            return seq
        delta = (seq - self.last) & 0xFFFF
        if delta >= 0x8000:
            delta -= 0x10000
        value = self.last + delta
        if value > self.last:
            self.last = value
        return value


class FeedbackRecorder:
    """Arrivals of one connection's transport-wide numbered packets, turned into feedback packets.

    ``record(seq, arrival_us)`` for each packet as it arrives (``arrival_us``: any monotonic
    clock, in microseconds); ``build(sender_ssrc, media_ssrc)`` every ``FEEDBACK_INTERVAL_S``
    returns the RTCP packets to send (none when nothing arrived since).
    """

    def __init__(self) -> None:
        self._unwrap = _Unwrapper()
        self._arrivals: dict[int, int] = {}  # unwrapped sequence number -> arrival (us)
        self._next: int | None = None  # the first sequence number the next feedback reports
        self._max: int | None = None  # the highest sequence number that arrived
        self._kept_from: int | None = None  # arrivals below this are forgotten
        self._count = 0  # feedback packet count (8 bits on the wire)
        self.packets = 0

    def record(self, seq: int, arrival_us: int) -> None:
        value = self._unwrap.unwrap(seq & 0xFFFF)
        self.packets += 1
        if self._next is None:
            self._next = self._kept_from = value
        elif value < self._next:
            if self._next - value > _REORDER_WINDOW:
                return
            self._next = value  # reported lost already: report it again, received
        self._arrivals.setdefault(value, arrival_us)
        if self._max is None or value > self._max:
            self._max = value

    @property
    def pending(self) -> bool:
        return self._max is not None and self._next is not None and self._max >= self._next

    def build(self, sender_ssrc: int, media_ssrc: int) -> list[bytes]:
        if not self.pending:
            return []
        assert self._next is not None and self._max is not None and self._kept_from is not None
        out = []
        start, end = self._next, self._max + 1
        while start < end:
            packet, start = self._packet(start, end, sender_ssrc, media_ssrc)
            out.append(packet)
        self._next = end
        # What was reported stays for a while: a straggler moves the start back over it. Forgotten
        # by range, not by a scan: a build costs what arrived since the last one.
        for seq in range(self._kept_from, end - _REORDER_WINDOW):
            self._arrivals.pop(seq, None)
        self._kept_from = max(self._kept_from, end - _REORDER_WINDOW)
        return out

    def _packet(self, start: int, end: int, sender_ssrc: int, media_ssrc: int) -> tuple[bytes, int]:
        # The reference time is the first arrival's (rounded down to 64 ms), so its delta is not
        # negative; the packets lost before it are reported from ``start`` on all the same.
        first = next(seq for seq in range(start, end) if seq in self._arrivals)
        start = max(start, first - (_MAX_PACKETS_PER_FEEDBACK - 1))  # a longer run of losses: its tail only
        reference = self._arrivals[first] // _REFERENCE_US
        previous = reference * _REFERENCE_US // _TICK_US  # in ticks
        symbols: list[int] = []
        deltas = bytearray()
        seq = start
        while seq < end and len(symbols) < _MAX_PACKETS_PER_FEEDBACK:
            arrival = self._arrivals.get(seq)
            if arrival is None:
                symbols.append(_NOT_RECEIVED)
            else:
                ticks = arrival // _TICK_US
                delta = ticks - previous
                if 0 <= delta <= 0xFF:
                    symbols.append(_SMALL)
                    deltas.append(delta)
                elif -0x8000 <= delta <= 0x7FFF:
                    symbols.append(_LARGE)
                    deltas += struct.pack("!h", delta)
                else:
                    break  # more than 8 s apart: the next feedback starts here, with its own reference
                previous = ticks
            seq += 1
        while symbols and symbols[-1] == _NOT_RECEIVED:
            symbols.pop()  # never end on a loss: the range was cut where the next packet arrived
            seq -= 1
        body = struct.pack("!HHI", start & 0xFFFF, len(symbols),
                           ((reference & 0xFFFFFF) << 8) | (self._count & 0xFF))
        body += _chunks(symbols) + bytes(deltas)
        body += bytes(-len(body) % 4)
        self._count += 1
        header = struct.pack("!BBHII", 0x80 | _FMT_TRANSPORT_CC, _RTPFB, (len(body) + 12) // 4 - 1,
                             sender_ssrc, media_ssrc)
        return header + body, seq


def _chunks(symbols: list[int]) -> bytes:
    """Run-length chunks for runs of 7 or more alike, two-bit status vectors (7 symbols) otherwise."""
    out = bytearray()
    i, n = 0, len(symbols)
    while i < n:
        run = 1
        while i + run < n and symbols[i + run] == symbols[i] and run < 0x1FFF:
            run += 1
        if run >= 7:
            out += struct.pack("!H", (symbols[i] << 13) | run)
            i += run
            continue
        group = symbols[i:i + 7]
        word = 0xC000  # T=1 (status vector), S=1 (two-bit symbols)
        for k, symbol in enumerate(group):
            word |= symbol << (12 - 2 * k)
        out += struct.pack("!H", word)
        i += len(group)
    return bytes(out)


@dataclass(frozen=True, slots=True)
class Feedback:
    """A transport-feedback packet read back: what a sender would learn from it."""

    sender_ssrc: int
    media_ssrc: int
    base_seq: int
    count: int
    reference_us: int
    arrivals: dict[int, int | None]  # sequence number (16 bits) -> arrival (us, from the reference's zero) or None


def parse_feedback(data: bytes) -> Feedback:
    """Read one transport-feedback RTCP packet (the sender's side; for tests and diagnostics)."""
    first, pt, length = struct.unpack_from("!BBH", data)
    if first >> 6 != 2 or first & 0x1F != _FMT_TRANSPORT_CC or pt != _RTPFB or (length + 1) * 4 > len(data):
        raise ValueError("not a transport-feedback packet")
    sender, media, base, status_count, ref_count = struct.unpack_from("!IIHHI", data, 4)
    reference = ref_count >> 8
    if reference & 0x800000:
        reference -= 1 << 24
    pos, symbols = 20, list[int]()
    while len(symbols) < status_count:
        (word,) = struct.unpack_from("!H", data, pos)
        pos += 2
        if not word & 0x8000:
            symbols += [(word >> 13) & 0x3] * (word & 0x1FFF)
        elif word & 0x4000:
            symbols += [(word >> (12 - 2 * k)) & 0x3 for k in range(7)]
        else:
            symbols += [(word >> (13 - k)) & 0x1 for k in range(14)]
    symbols = symbols[:status_count]
    arrivals: dict[int, int | None] = {}
    time_us = reference * _REFERENCE_US
    for k, symbol in enumerate(symbols):
        seq = (base + k) & 0xFFFF
        if symbol == _NOT_RECEIVED:
            arrivals[seq] = None
            continue
        if symbol == _SMALL:
            delta = data[pos]
            pos += 1
        elif symbol == _LARGE:
            (delta,) = struct.unpack_from("!h", data, pos)
            pos += 2
        else:
            raise ValueError("reserved status symbol")
        time_us += delta * _TICK_US
        arrivals[seq] = time_us
    if pos > (length + 1) * 4:
        raise ValueError("receive deltas run past the packet")
    return Feedback(sender, media, base, ref_count & 0xFF, reference * _REFERENCE_US, arrivals)
