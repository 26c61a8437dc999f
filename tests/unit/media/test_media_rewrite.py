"""RTP renumbering, keyframe detection and request pacing: pure code, checked with real encoder output."""

from __future__ import annotations

import fractions
import os

import pytest
from aiortc.codecs import get_encoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from av import VideoFrame

from rtserver.media.rewrite import (
    BitrateCap,
    KeyframeHold,
    KeyframePacer,
    StreamRewriter,
    h264_keyframe_start,
    seq_newer,
    vp8_keyframe_start,
)


def test_seq_newer_wraps_around() -> None:
    assert seq_newer(1, 0) and seq_newer(0, 65535) and seq_newer(100, 65000)
    assert not seq_newer(0, 1) and not seq_newer(5, 5) and not seq_newer(65000, 100)


def test_rewriter_offsets_a_stream_and_wraps() -> None:
    rewriter = StreamRewriter(90_000, first_seq=65534, first_ts=2**32 - 10)
    assert rewriter.map(1000, 5000, now=0.0) == (65534, 2**32 - 10)
    assert rewriter.map(1001, 5000, now=0.0) == (65535, 2**32 - 10)
    assert rewriter.map(1002, 8000, now=0.1) == (0, 2990)  # both wrap
    assert rewriter.map(1001, 5000, now=0.1) == (65535, 2**32 - 10)  # a late retransmission keeps its number


def test_rewriter_refuses_packets_from_before_its_start() -> None:
    rewriter = StreamRewriter(90_000, first_seq=10, first_ts=0)
    assert rewriter.map(500, 0, now=0.0) == (10, 0)
    assert rewriter.map(499, 0, now=0.0) is None  # the rest of a frame the subscriber never had the start of
    assert rewriter.map(501, 0, now=0.0) == (11, 0)


def test_rewriter_continues_one_stream_across_a_source_change() -> None:
    rewriter = StreamRewriter(90_000, first_seq=100, first_ts=1_000)
    for i in range(5):
        rewriter.map(7000 + i, 3000 * i, now=i / 30)
    rewriter.restart()
    # the new source numbers from elsewhere: the stream goes on one past the last packet, 0.5 s later in time
    assert rewriter.map(42, 999_999, now=4 / 30 + 0.5) == (105, 1_000 + 3000 * 4 + 45_000)
    assert rewriter.map(43, 999_999 + 3000, now=5 / 30 + 0.5) == (106, 1_000 + 3000 * 5 + 45_000)


def test_rewriter_wraps_its_start_guard_in_long_streams() -> None:
    rewriter = StreamRewriter(48_000, first_seq=0, first_ts=0)
    out = [rewriter.map(seq % 65536, seq * 960, now=seq * 0.02) for seq in range(70_000)]
    assert all(o is not None for o in out)
    assert [o[0] for o in out[-3:] if o] == [(69_997) % 65536, 69_998 % 65536, 69_999 % 65536]


def _vp8_frames(count: int) -> list[list[bytes]]:
    """The RTP payloads of ``count`` frames from aiortc's VP8 encoder: a keyframe, then interframes."""
    encoder = get_encoder(RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90_000))
    texture = os.urandom(320 * 240)
    frames = []
    for i in range(count):
        frame = VideoFrame(width=320, height=240, format="yuv420p")
        for plane in frame.planes:
            plane.update(texture[:plane.buffer_size])
        frame.pts = i * 3000
        frame.time_base = fractions.Fraction(1, 90_000)
        frames.append(encoder.encode(frame, force_keyframe=i == 0)[0])
    return frames


def test_vp8_keyframe_start_on_aiortc_encoder_output() -> None:
    key, *others = _vp8_frames(4)
    assert len(key) > 1  # a multi-packet keyframe: only its first packet starts it
    assert vp8_keyframe_start(key[0])
    assert not any(vp8_keyframe_start(p) for p in key[1:])
    assert others and not any(vp8_keyframe_start(p) for frame in others for p in frame)


def test_vp8_descriptor_variants() -> None:
    assert vp8_keyframe_start(bytes([0x10, 0x00]))  # S=1, PID=0, no extension, P=0
    assert not vp8_keyframe_start(bytes([0x10, 0x01]))  # P=1: an interframe
    assert vp8_keyframe_start(bytes([0x90, 0xE0, 0x80, 0x01, 0x05, 0x40, 0x00]))  # X, 15-bit I, L, T
    assert not vp8_keyframe_start(bytes([0x90, 0x80]))  # truncated
    assert not vp8_keyframe_start(b"")


def test_h264_keyframe_start() -> None:
    sps, idr, slice_ = bytes([0x67, 1, 2]), bytes([0x65, 1]), bytes([0x41, 1])
    assert h264_keyframe_start(sps) and h264_keyframe_start(idr) and not h264_keyframe_start(slice_)
    stap_a = bytes([0x78]) + len(sps).to_bytes(2, "big") + sps + len(idr).to_bytes(2, "big") + idr
    assert h264_keyframe_start(stap_a)
    assert h264_keyframe_start(bytes([0x7C, 0x85, 0]))  # FU-A start of an IDR
    assert not h264_keyframe_start(bytes([0x7C, 0x05, 0]))  # FU-A continuation
    assert not h264_keyframe_start(bytes([0x7C, 0x81, 0]))  # FU-A start of a non-IDR slice


def test_keyframe_pacer_allows_two_per_second() -> None:
    pacer = KeyframePacer(0.5)
    assert pacer.request(10.0)
    assert not pacer.request(10.1) and pacer.pending
    assert pacer.due(10.1) == pytest.approx(0.4)
    assert not pacer.fire(10.4)
    assert pacer.fire(10.5) and not pacer.pending
    assert pacer.due(10.6) is None
    sent = sum(pacer.request(11.0 + i / 100) or pacer.fire(11.0 + i / 100) for i in range(100))
    assert sent == 2  # a second of requests every 10 ms: two PLIs


def test_bitrate_cap_sends_drops_at_once_and_rises_slowly() -> None:
    cap = BitrateCap(refresh_s=1.0)
    assert cap.update([], 0.0) is None
    assert cap.update([800_000, 500_000], 0.0) == 500_000
    assert cap.update([900_000], 0.2) is None  # higher: waits for the refresh
    assert cap.update([300_000], 0.3) == 300_000  # a subscriber got worse: at once
    assert cap.update([310_000], 0.4) is None
    assert cap.update([900_000], 1.4) == 900_000


def test_the_hold_keeps_the_last_packets_and_releases_those_after_the_keyframe_in_order() -> None:
    hold: KeyframeHold[str] = KeyframeHold(4)
    for seq in (65530, 2, 65535, 0, 1):  # the first one falls out (4 kept); numbers wrap at 65536
        hold.add(seq, f"p{seq}")
    assert hold.release(65534) == ["p65535", "p0", "p1", "p2"]
    assert hold.release(65534) == []  # released once
    for seq in (10, 11, 11, 3):
        hold.add(seq, f"p{seq}")
    assert hold.release(9) == ["p10", "p11"]  # a duplicate once; nothing from before the keyframe
