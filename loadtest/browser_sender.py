"""aiortc's encoders and video sender made to behave like Chromium's, for the calibration peers
(loadtest/calibrate_peer.py). The one place in loadtest/ that reaches into aiortc's internals:
``check_internals`` fails loudly, naming what is missing, when an aiortc release moves them.

- **Encoders** (``encode_like_a_browser``): aiortc's VP8 never goes below 250 kbit/s whatever it is
  asked, where Chromium goes down to 30 kbit/s, and starts at 500 kbit/s, where Chromium starts at
  300; its Opus sends 96 kbit/s, Chromium's 32. The VP8 bounds are constants of
  ``aiortc.codecs.vpx`` read at each new encoder and each bitrate change; Opus' rate is set on each
  new encoder.
- **Video sender rate** (``RateControlledSender``): aiortc's ``RTCRtpSender`` sets its encoder's
  target to each REMB it receives and has no congestion control of its own. Here its RTCP handler
  is wrapped: the receiver reports of the video stream feed ``send_rate.LossRateControl``
  (Chromium's loss-based rules), each REMB becomes that control's ceiling instead of the target,
  and the encoder's target is set to the control's rate after each report and every
  ``TICK_S``. The encoder starts a new VP8 stream (a keyframe) when its target moves more than
  10 % (aiortc's rule): about every 1.3 s while the rate grows at 8 %/s.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import aiortc
import aiortc.codecs.opus
import aiortc.codecs.vpx
from aiortc import RTCRtpSender
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, RtcpRrPacket, RtcpSrPacket, unpack_remb_fci

from .send_rate import LossRateControl

__all__ = ["BROWSER_MIN_VIDEO_BPS", "BROWSER_OPUS_BPS", "RateControlledSender", "check_internals",
           "encode_like_a_browser"]

BROWSER_MIN_VIDEO_BPS = 30_000  # Chromium's minimum video bitrate
BROWSER_OPUS_BPS = 32_000  # Chromium's default Opus bitrate
TICK_S = 0.25  # the rules applied between reports (growth is at most once a second anyway)
_ENCODER = "_RTCRtpSender__encoder"  # the sender's encoder, created at its first frame


def check_internals(sender: RTCRtpSender | None = None) -> None:
    """Raise RuntimeError naming each aiortc internal this module relies on that is missing."""
    missing = [f"aiortc.codecs.vpx.{name}" for name in ("MIN_BITRATE", "DEFAULT_BITRATE")
               if not isinstance(getattr(aiortc.codecs.vpx, name, None), int)]
    if not isinstance(getattr(aiortc.codecs.vpx.Vp8Encoder, "target_bitrate", None), property):
        missing.append("aiortc.codecs.vpx.Vp8Encoder.target_bitrate")
    if not callable(getattr(RTCRtpSender, "_handle_rtcp_packet", None)):
        missing.append("RTCRtpSender._handle_rtcp_packet")
    if sender is not None:
        missing += [f"RTCRtpSender.{name}" for name in (_ENCODER, "_ssrc") if not hasattr(sender, name)]
    if missing:
        raise RuntimeError(f"aiortc {aiortc.__version__} lacks what loadtest/browser_sender.py drives: "
                           + ", ".join(missing))


def encode_like_a_browser(start_bps: int) -> None:
    """Chromium's video floor and start rate and Opus bitrate for this process's aiortc encoders."""
    check_internals()
    aiortc.codecs.vpx.MIN_BITRATE = BROWSER_MIN_VIDEO_BPS
    aiortc.codecs.vpx.DEFAULT_BITRATE = start_bps
    opus_init = aiortc.codecs.opus.OpusEncoder.__init__
    if getattr(opus_init, "browser_rate", False):
        return

    def browser_opus(self: aiortc.codecs.opus.OpusEncoder) -> None:
        opus_init(self)
        self.codec.bit_rate = BROWSER_OPUS_BPS

    browser_opus.browser_rate = True  # type: ignore[attr-defined]
    aiortc.codecs.opus.OpusEncoder.__init__ = browser_opus  # type: ignore[method-assign]


class RateControlledSender:
    """Drives one video ``RTCRtpSender``'s encoder target with a ``LossRateControl`` (see the module's doc).

    ``timeline``: [seconds since attached, target kbit/s, last loss %, REMB kbit/s] once a second.
    """

    def __init__(self, sender: RTCRtpSender, control: LossRateControl | None = None):
        check_internals(sender)
        self.sender = sender
        self.control = control or LossRateControl()
        self.timeline: list[list[float | None]] = []
        self.rtt_s = 0.0
        self._counts: dict[int, tuple[int, int]] = {}  # ssrc -> (extended highest sequence, cumulative lost)
        self._started = time.monotonic()
        original = sender._handle_rtcp_packet

        async def handle(packet: Any) -> None:
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
                with contextlib.suppress(ValueError):
                    bitrate, ssrcs = unpack_remb_fci(packet.fci)
                    if sender._ssrc in ssrcs:
                        self.control.on_remb(bitrate)  # a ceiling, not the target aiortc would make it
                        self._apply()
                return
            await original(packet)
            if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
                for report in packet.reports:
                    if report.ssrc == sender._ssrc:
                        self._on_report(report.ssrc, report.highest_sequence, report.packets_lost)
                self._apply()

        sender._handle_rtcp_packet = handle  # type: ignore[method-assign]
        self._task = asyncio.create_task(self._tick())

    def _on_report(self, ssrc: int, highest: int, lost: int) -> None:
        before = self._counts.get(ssrc)
        self._counts[ssrc] = (highest, lost)
        if before is not None:
            self.control.on_report(highest - before[0], lost - before[1], time.monotonic())

    def _apply(self) -> None:
        target = self.control.update(time.monotonic(), self.rtt_s)
        encoder = getattr(self.sender, _ENCODER)
        if encoder is not None and hasattr(encoder, "target_bitrate"):
            encoder.target_bitrate = target

    async def _tick(self) -> None:
        next_sample = 0.0
        while True:
            await asyncio.sleep(TICK_S)
            with contextlib.suppress(Exception):  # statistics are best effort; the rules run regardless
                for stats in (await self.sender.getStats()).values():
                    if stats.type == "remote-inbound-rtp" and stats.roundTripTime is not None:
                        self.rtt_s = stats.roundTripTime
            self._apply()
            elapsed = time.monotonic() - self._started
            if elapsed >= next_sample:
                next_sample += 1.0
                c = self.control
                self.timeline.append([round(elapsed, 1), c.target_bps // 1000,
                                      None if c.loss is None else round(c.loss * 100, 1),
                                      None if c.remb is None else c.remb // 1000])

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
