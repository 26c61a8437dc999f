"""The interview SDK's report builder (static/rtinterview.js), run under Node on made-up statistics.

``statsSnapshot`` reads both connections' ``RTCStatsReport``s (here Maps of the same shape) and
``mediaReport`` makes the ``media_report`` of the window between two snapshots
(docs/protocol.md): received frame rate, freezes, loss before retransmission and bitrate per
(publisher, kind), and what the page sends.
"""

from __future__ import annotations

import json
from typing import Any

from js_support import run_js

SECTIONS = [{"mid": "0", "kind": "audio", "user": "adv"}, {"mid": "1", "kind": "video", "user": "adv"}]

HELPERS = "const sections = " + json.dumps(SECTIONS) + ";" + """
const inbound = (id, mid, kind, c) => [id, {type: 'inbound-rtp', id, mid, kind, ...c}];
const outbound = (id, kind, c) => [id, {type: 'outbound-rtp', id, kind, ...c}];
const snap = (sub, pub, at) => sdk.statsSnapshot({subscribe: new Map(sub), publish: new Map(pub)}, sections, at);
"""


def report(script: str) -> Any:
    return run_js({"sdk": "rtinterview.js"}, HELPERS + script)


def test_received_video_and_audio_over_the_window() -> None:
    got = report("""
      const a = snap([
        inbound('A', '0', 'audio', {packetsReceived: 1000, packetsLost: 5, bytesReceived: 40000}),
        inbound('V', '1', 'video', {packetsReceived: 5000, packetsLost: 20, retransmittedPacketsReceived: 10,
                                    bytesReceived: 1e6, framesDecoded: 300, totalFreezesDuration: 1.0}),
        inbound('X', '9', 'video', {packetsReceived: 1, framesDecoded: 1}),  // not in the node's map
      ], [outbound('OA', 'audio', {bytesSent: 20000}),
          outbound('OV', 'video', {bytesSent: 500000, qualityLimitationReason: 'none'})], 10000);
      const b = snap([
        inbound('A', '0', 'audio', {packetsReceived: 1092, packetsLost: 13, bytesReceived: 48000}),
        inbound('V', '1', 'video', {packetsReceived: 5190, packetsLost: 30, retransmittedPacketsReceived: 15,
                                    bytesReceived: 1.125e6, framesDecoded: 310, totalFreezesDuration: 1.5}),
        inbound('X', '9', 'video', {packetsReceived: 9, framesDecoded: 9}),
      ], [outbound('OA', 'audio', {bytesSent: 28000}),
          outbound('OV', 'video', {bytesSent: 617000, qualityLimitationReason: 'bandwidth'})], 12000);
      result = sdk.mediaReport(a, b, {sendVideo: true});
    """)
    assert got == {
        "receive": [
            # 8 lost of 100 sent (92 received + 8 lost): audio is not retransmitted.
            {"user": "adv", "kind": "audio", "loss": 0.08, "kbps": 32},
            # 10 frames in 2 s; 0.5 s frozen; 10 lost + 5 retransmitted of 200 sent; 125 kB in 2 s.
            {"user": "adv", "kind": "video", "loss": 0.075, "kbps": 500, "fps": 5, "frozen_ms": 500},
        ],
        "send": {"video": True, "kbps": 500, "limited": "bandwidth"},
        "window_ms": 2000,
    }


def test_retransmissions_of_late_packets_are_not_read_as_loss() -> None:
    """A path that reorders: the browser asks again for each packet that is only late, and the
    node's copy arrives after the original. packetsLost counts that duplicate (it goes below zero);
    of 200 packets sent, 2 lost and repaired, 40 late ones sent twice: 1 %, not 17.5 %."""
    got = report("""
      const v = (received, lost, rtx) => [inbound('V', '1', 'video', {packetsReceived: received, packetsLost: lost,
          retransmittedPacketsReceived: rtx, bytesReceived: received * 1000, framesDecoded: received / 5})];
      const a = snap(v(1000, 0, 0), [], 0), b = snap(v(1240, -40, 42), [], 2000);
      result = sdk.mediaReport(a, b, {sendVideo: false}).receive;
    """)
    assert got == [{"user": "adv", "kind": "video", "loss": 0.01, "kbps": 960, "fps": 24, "frozen_ms": 0}]


def test_video_known_to_be_off_and_replaced_streams_are_left_out() -> None:
    got = report("""
      const counters = (n) => [
        inbound('A', '0', 'audio', {packetsReceived: n, bytesReceived: n * 100}),
        inbound('V', '1', 'video', {packetsReceived: n, framesDecoded: n}),
      ];
      const a = snap(counters(500), [], 0), b = snap(counters(600), [], 1000);
      const paused = sdk.mediaReport(a, b, {sendVideo: false, noVideoFrom: new Set(['adv'])});
      // A new subscribe connection reuses the stats ids with counters from zero.
      const replaced = sdk.mediaReport(b, snap(counters(50), [], 2000), {sendVideo: false});
      const empty = sdk.mediaReport(b, snap(counters(700), [], 1000), {sendVideo: false});
      result = {paused, replaced, empty};
    """)
    assert got["paused"]["receive"] == [{"user": "adv", "kind": "audio", "loss": 0, "kbps": 80}]
    assert got["paused"]["send"] == {"video": False, "kbps": 0, "limited": "none"}  # no camera: not limited
    assert got["replaced"]["receive"] == []
    assert got["empty"] is None  # a window of no time


def test_limits_and_bounds() -> None:
    got = report("""
      const many = (n) => Array.from({length: 20}, (_, i) => {
        sections.push({mid: `m${i}`, kind: 'audio', user: `u${String(i).padStart(2, '0')}`});
        return inbound(`I${i}`, `m${i}`, 'audio', {packetsReceived: n, packetsLost: n === 0 ? 0 : 500,
                                                     retransmittedPacketsReceived: n === 0 ? 0 : 20});
      });
      const a = snap(many(0), [outbound('OV', 'video', {bytesSent: 0, qualityLimitationReason: 'cpu'})], 0);
      const b = snap(many(10), [outbound('OV', 'video', {bytesSent: 0, qualityLimitationReason: 'thermal'})], 2000);
      result = sdk.mediaReport(a, b, {sendVideo: true});
    """)
    assert len(got["receive"]) == 16  # at most 16 entries
    assert got["receive"][0] == {"user": "u00", "kind": "audio", "loss": 1, "kbps": 0}  # loss stays within 0..1
    assert got["send"]["limited"] == "other"  # a reason the protocol does not know
