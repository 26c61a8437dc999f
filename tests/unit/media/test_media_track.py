"""A subscriber's DownTrack: its keyframe gate over packets that reach the node reordered, and its
bandwidth estimate when video resumes after a pause.

A link with jitter (the pre-call matrix's rtt100: 100 ms, ±10 ms each way) reorders the packets
of a keyframe, which a sender writes back to back: some of them reach the node before the
keyframe's first packet, the one the gate opens on. They must reach the subscriber too: dropped
there, the subscriber holds a keyframe with holes that no retransmission can fill (the node never
sent those packets, so its history has nothing to answer a NACK with), and decodes nothing until
its jitter buffer gives up on them (aiortc's: 512 packets later) and asks for another keyframe.

Driven through ``Publication.on_packet`` (the keyframe detection included) with VP8 payload
descriptors built by hand and an outbound that records what it would send: no socket, no aiortc
transport.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiortc.rtp import RtpPacket

from rtserver.media.bandwidth import RESUME_GRACE_S
from rtserver.media.forwarder import CodecSpec
from rtserver.media.track import DownTrack, ForwardingTotals, Publication

VP8 = CodecSpec("video/VP8", 90_000)
SSRC = 1234
# RFC 7741: a first octet with S (start of partition) and partition index 0, then the VP8 header's
# first octet, whose lowest bit P is 0 for a keyframe; packets after the first carry S = 0.
KEY_START = bytes([0x10, 0x00]) + bytes(100)
DELTA_START = bytes([0x10, 0x01]) + bytes(100)
CONTINUATION = bytes([0x00]) + bytes(100)


class RecordingOutbound:
    """What DownTrack needs of ``forwarder.Outbound``: records each write instead of sending it."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self.ready = True
        self.remb_bps: int | None = None
        self.packets = 0
        self.bytes = 0
        self.keyframe_requests_received = 0
        self.written: list[tuple[int, int, int]] = []  # (incoming seq, outgoing seq, outgoing timestamp)

    async def write(self, packet: RtpPacket, seq: int, timestamp: int, ntp: int, now: float) -> None:
        self.written.append((packet.sequence_number, seq, timestamp))
        self.packets += 1
        self.bytes += len(packet.payload)

    def close(self) -> None:
        self.ready = False


def packet(seq: int, ts: int, payload: bytes, *, marker: bool = False) -> RtpPacket:
    return RtpPacket(payload_type=96, marker=marker, sequence_number=seq % 65536, timestamp=ts, ssrc=SSRC,
                     payload=payload)


def frame(first_seq: int, ts: int, count: int, *, key: bool) -> list[RtpPacket]:
    """One frame of ``count`` packets: a start (key or delta), continuations, the last one marked."""
    out = [packet(first_seq, ts, KEY_START if key else DELTA_START, marker=count == 1)]
    out += [packet(first_seq + i, ts, CONTINUATION, marker=i == count - 1) for i in range(1, count)]
    return out


@pytest.fixture
async def subscribed() -> AsyncIterator[tuple[Publication, DownTrack, RecordingOutbound]]:
    publication = Publication(track_id="t1", owner="js", mid="0", codec=VP8, totals=ForwardingTotals())
    downtrack = DownTrack(subscriber="adv", outbound_factory=RecordingOutbound, codec=VP8, totals=ForwardingTotals())
    downtrack.negotiated = True
    downtrack.attach(publication)  # starts waiting for a keyframe (and asks for one)
    assert downtrack.waiting_keyframe
    outbound = downtrack.outbound
    assert isinstance(outbound, RecordingOutbound)
    yield publication, downtrack, outbound
    publication.close()


async def feed(publication: Publication, packets: list[RtpPacket], *, retransmitted: bool = False) -> None:
    for p in packets:
        await publication.on_packet(p, retransmitted, 0)


async def test_keyframe_packets_that_overtook_its_first_one_are_forwarded_after_it(
        subscribed: tuple[Publication, DownTrack, RecordingOutbound]) -> None:
    publication, downtrack, outbound = subscribed
    delta = frame(100, 1_000, 3, key=False)  # 100-102, the end of a frame the subscriber never had the start of
    key = frame(103, 4_000, 8, key=True)  # 103 (the keyframe's first packet) - 110
    by_seq = {p.sequence_number: p for p in delta + key}
    # The order they reach the node in: 104 and 105 of the keyframe overtook 102 and 103.
    arrival = [100, 101, 105, 104, 102, 103, 106, 108, 107, 109, 110]
    await feed(publication, [by_seq[s] for s in arrival])

    assert not downtrack.waiting_keyframe
    # Every packet of the keyframe, and none of the frame before it, in one contiguous outgoing run.
    assert sorted(s for s, _, _ in outbound.written) == list(range(103, 111))
    out_seq = {incoming: out for incoming, out, _ in outbound.written}
    assert [out_seq[s] - out_seq[103] for s in range(103, 111)] == list(range(8))
    assert {ts for _, _, ts in outbound.written} == {outbound.written[0][2]}  # one frame, one timestamp
    # The first packet goes first (the subscriber's stream starts at it), the overtaking ones right after.
    assert [s for s, _, _ in outbound.written[:3]] == [103, 104, 105]

    await feed(publication, frame(111, 7_000, 2, key=False))
    assert out_seq[103] + 9 == outbound.written[-1][1]


async def test_what_a_gate_held_is_not_forwarded_when_older_than_the_keyframe_or_from_before_a_restart(
        subscribed: tuple[Publication, DownTrack, RecordingOutbound]) -> None:
    publication, downtrack, outbound = subscribed
    # Held while waiting, then the subscriber's stream restarts (a reconnection): forgotten.
    await feed(publication, [packet(205, 9_000, CONTINUATION)])
    downtrack.restart()
    await feed(publication, [packet(99, 1_000, CONTINUATION)])  # older than the keyframe: dropped
    await feed(publication, frame(203, 9_000, 2, key=True))  # 203 and 204
    assert [s for s, _, _ in outbound.written] == [203, 204]


async def test_a_retransmitted_packet_of_the_keyframe_held_at_the_gate_is_forwarded(
        subscribed: tuple[Publication, DownTrack, RecordingOutbound]) -> None:
    publication, _, outbound = subscribed
    key = frame(500, 4_000, 4, key=True)
    await feed(publication, [key[2]], retransmitted=True)  # lost on the way, resent before the first arrived
    await feed(publication, [key[0], key[1], key[3]])
    assert [s for s, _, _ in outbound.written] == [500, 502, 501, 503]


async def test_video_resumed_after_a_pause_starts_at_a_keyframe_and_its_estimate_gets_a_grace(
        subscribed: tuple[Publication, DownTrack, RecordingOutbound]) -> None:
    publication, downtrack, outbound = subscribed
    await feed(publication, frame(10, 1_000, 2, key=True))
    downtrack.set_paused(True)
    await feed(publication, frame(12, 4_000, 2, key=False))  # not forwarded while paused
    before = time.monotonic()
    downtrack.set_paused(False)
    assert downtrack.waiting_keyframe
    assert downtrack.remb_trend.below_sent_from >= before + RESUME_GRACE_S
    await feed(publication, frame(14, 7_000, 2, key=False) + frame(16, 10_000, 2, key=True))
    assert [s for s, _, _ in outbound.written] == [10, 11, 16, 17]
