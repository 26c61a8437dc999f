"""The media benchmark command: one tiny run through the SFU, the relay and a few join/leave cycles,
plus the pieces its figures rest on (finding the payload in a sent packet, the pass rule).

The real measurements are run by hand (loadtest/README.md, "Media"); this run only proves the
command starts the servers, moves media through them, measures it and writes a sane report.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket
from repo_paths import REPO as ROOT

if str(ROOT) not in sys.path:  # loadtest/ is a top-level package of the repository, not an installed one
    sys.path.insert(0, str(ROOT))


from loadtest.media_clip import LoopedTrack
from loadtest.media_probe import SendStamps, Window, rtp_payload
from loadtest.media_report import judge, step_figures


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("media") / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "loadtest", "media", "--interviews", "1", "--duration", "3", "--settle", "0.5",
         "--compare-relay", "--leak-cycles", "3", "--leak-warmup", "1", "--quiet", "--report", str(path)],
        cwd=ROOT, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "server CPU per forwarded stream" in proc.stdout
    data: dict[str, Any] = json.loads(path.read_text())
    assert "error" not in data, data["error"]
    return data


def test_sfu_step(report: dict[str, Any]) -> None:
    sfu, _ = report["steps"]
    assert sfu["path"] == "sfu" and sfu["interviews"] == 1 and sfu["server_exit_code"] == 0
    assert sfu["streams"] == 4 and sfu["missing_streams"] == 0 and sfu["not_ready"] == 0
    assert sfu["packets_sent"] > 300 and sfu["packets_received"] > 0.98 * sfu["packets_sent"]
    assert sfu["loss"] < 0.02 and sfu["forwarded_packets"] > 300
    assert 0 < sfu["server_cpu_s"] and 0 < sfu["cpu_per_stream_pct"] < 25
    latency = sfu["latency_ms"]
    assert latency["count"] > 300 and 0 < latency["p50"] <= latency["p99"] < 100
    assert sfu["video_rate"]["min"] > 25 and sfu["audio_rate"]["min"] > 45
    assert sfu["pass"], sfu["fail_reasons"]


def test_relay_step_and_comparison(report: dict[str, Any]) -> None:
    relay = report["steps"][1]
    assert relay["path"] == "relay" and relay["missing_streams"] == 0 and relay["server_exit_code"] == 0
    assert relay["packets_arrived"] > 300 and relay["video_rate"]["min"] > 20
    assert "latency_ms" not in relay  # re-encoded payloads cannot be matched to their send
    compare = report["comparison"]
    assert compare["relay_cpu_per_stream_pct"] > compare["sfu_cpu_per_stream_pct"] > 0


def test_leak_cycles(report: dict[str, Any]) -> None:
    leak = report["leak"]
    before, after = leak["before"], leak["after"]
    assert leak["cycles"] == 3 and after["settled"] and leak["server_exit_code"] == 0
    assert after["peer_connections"] == after["rooms"] == after["participants"] == 0
    assert after["threads"] == before["threads"] and after["fds"] == before["fds"]
    assert 0 < before["tasks"] and after["tasks"] <= before["tasks"] + 2
    assert before["rss_kib"] > 0


# -- pieces ---------------------------------------------------------------------------------
def test_payload_found_behind_header_extensions() -> None:
    extensions = HeaderExtensionsMap()
    extensions.configure(RTCRtpParameters(headerExtensions=[
        RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
        RTCRtpHeaderExtensionParameters(id=3, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time")]))
    packet = RtpPacket(payload_type=96, marker=1, sequence_number=7, timestamp=9000, ssrc=0xDEADBEEF,
                       payload=b"\x90\x80\x12\x34frame")
    packet.extensions.mid = "0"
    packet.extensions.abs_send_time = 0x123456
    data = packet.serialize(extensions)
    assert rtp_payload(data) == (0xDEADBEEF, True, b"\x90\x80\x12\x34frame")
    plain = RtpPacket(payload_type=111, sequence_number=1, timestamp=1, ssrc=5, payload=b"opus").serialize()
    assert rtp_payload(plain) == (5, False, b"opus")


def test_send_stamps_count_the_window_only() -> None:
    window = Window()
    stamps = SendStamps(window)
    stamps.kinds[5] = "video"
    frame = RtpPacket(payload_type=96, marker=1, sequence_number=1, timestamp=1, ssrc=5, payload=b"a").serialize()
    stamps.record(frame)
    assert stamps.sent["video"] == 0 and stamps.sent_at("video", b"a") is not None
    window.set(0, float("inf"))
    stamps.record(frame)
    stamps.record(RtpPacket(payload_type=97, ssrc=6, payload=b"rtx").serialize())  # unknown SSRC: not a first send
    assert stamps.sent["video"] == 1 and stamps.frames_sent == 1
    assert stamps.sent_at("video", b"rtx") is None and stamps.sent_at("audio", b"a") is None


async def test_looped_track_restarts_on_a_keyframe_request() -> None:
    track = LoopedTrack("video", [b"key", b"p1", b"p2"], fps=1000)
    assert [bytes(await track.recv()) for _ in range(2)] == [b"key", b"p1"]
    track.request_keyframe()  # within KEYFRAME_GAP_S of the last keyframe: ignored
    assert bytes(await track.recv()) == b"p2"
    track._last_keyframe -= LoopedTrack.KEYFRAME_GAP_S
    assert bytes(await track.recv()) == b"key"  # the loop wrapped anyway
    track._last_keyframe -= LoopedTrack.KEYFRAME_GAP_S
    track.request_keyframe()
    packet = await track.recv()
    assert bytes(packet) == b"key" and packet.pts == 4 * 90  # pts keeps growing: 90 kHz clock, 1000 fps
    track.stop()


def _stream(kind: str, rate: float, sent: int, received: int) -> dict[str, Any]:
    return {"kind": kind, "rate": rate, "max_gap_ms": 40.0, "sent": sent, "received": received,
            "sent_rate": rate, "latency": {100: sent}, "seq_expected": sent, "seq_lost": sent - received}


def test_pass_rule() -> None:
    good = [_stream("video", 30.0, 1000, 1000), _stream("audio", 50.0, 1000, 1000)]
    step = step_figures(good, fps=30)
    judge(step, max_loss=0.01, rate_tolerance=0.05)
    assert step["pass"] and step["loss"] == 0 and step["latency_ms"]["count"] == 2000
    lossy = step_figures([_stream("video", 30.0, 1000, 980), good[1]], fps=30)
    judge(lossy, max_loss=0.01, rate_tolerance=0.05)
    assert lossy["loss"] == 0.01 and not lossy["pass"]  # 20 of 2000: 1 % is not under 1 %
    slow = step_figures([_stream("video", 27.0, 1000, 1000), good[1], {"kind": "audio", "missing": True}], fps=30)
    judge(slow, max_loss=0.01, rate_tolerance=0.05)
    assert not slow["pass"] and len(slow["fail_reasons"]) == 2  # a stream missing, a video stream under 28.5 fps
