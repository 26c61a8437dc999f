"""A browser's loss-based sender rate control for the Python peers: pure, no sockets, no clock.

aiortc's sender has no congestion control of its own: its encoder sends whatever the receiver's
REMB asks. The node asks for its maximum (5 Mbit/s; aiortc's VP8 caps it at 1.5) until an estimate
has seen congestion (rtserver/media/bandwidth.py), so an aiortc publisher overfills any link
under about 1.5 Mbit/s from its first second, where Chromium starts at 300 kbit/s and grows only
while the link delivers. This is the loss-based part of Chromium's congestion control (GCC,
``SendSideBandwidthEstimation`` in libwebrtc's goog_cc), with its numbers:

- start at ``start_bps`` (300 kbit/s: libwebrtc's default start bitrate);
- loss is read from the receiver reports (RTCP RR) of the stream: packets expected and lost since
  the previous report, summed until at least ``min_packets`` (20, ``kLimitNumPackets``) were
  expected, so a few packets do not make a loss rate;
- loss under ``low_loss`` (2 %): grow by ``growth`` (8 %) plus 1 kbit/s, at most once every
  ``increase_interval_s`` (1 s, ``kBweIncreaseInterval``), from the lowest value of the last
  second (so a rise is not compounded within the second);
- loss from 2 % to ``high_loss`` (10 %): hold;
- loss over 10 %: cut to ``rate * (1 - 0.5 * loss)`` (libwebrtc's ``(512 - 256 * loss) / 512``),
  at most once every ``decrease_interval_s`` (300 ms, ``kBweDecreaseInterval``) plus a round trip,
  so a cut is seen by the next reports before the next one;
- never above the receiver's limit (the node's REMB: ``remb``), never under ``floor_bps``
  (50 kbit/s: room for a small picture at a few frames a second; libwebrtc's own floor is 5 kbit/s,
  but its encoder then drops frames, which aiortc's VP8 at 30 fps does not);
- a loss report older than ``report_timeout_s`` (6 s: libwebrtc's 1.2 x 5 s) no longer moves the
  rate (a paused camera sends nothing, so nothing is reported).

Left out: Chromium's delay-based estimator and its start-up probes (they find a clean link's
capacity in 1-2 s; here the rate grows at 8 %/s, 300 -> 480 kbit/s in 6 s, 1 Mbit/s in 16 s),
and the start phase that jumps to the receiver's limit in the first 2 s (the node sends no REMB
that early: its estimate comes 3-5 s into the stream).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

__all__ = ["LossRateControl", "RateLimits"]


@dataclass(frozen=True, slots=True)
class RateLimits:
    """The numbers of the module's rules, in bit/s unless named otherwise."""

    start_bps: int = 300_000
    floor_bps: int = 50_000
    low_loss: float = 0.02
    high_loss: float = 0.10
    growth: float = 0.08
    growth_add_bps: int = 1_000
    increase_interval_s: float = 1.0
    decrease_interval_s: float = 0.3
    min_packets: int = 20
    report_timeout_s: float = 6.0


class LossRateControl:
    """The sender's target rate (``target_bps``), fed with receiver reports and the receiver's limit.

        control = LossRateControl()
        control.on_report(expected=60, lost=3, now=t)   # each RR of the stream (counts since the last)
        control.on_remb(800_000)                        # each REMB
        control.update(now=t, rtt_s=0.05)               # after each of them and on a timer
        encoder.target = control.target_bps
    """

    def __init__(self, limits: RateLimits | None = None):
        self.limits = limits or RateLimits()
        self.target_bps = self.limits.start_bps
        self.remb: int | None = None
        self.loss: float | None = None  # the last loss rate computed (share, 0..1)
        self._loss_at = -float("inf")
        self._expected = 0  # counts since the last loss rate
        self._lost = 0
        self._fresh = False  # a loss rate not acted on yet
        self._increased_at = -float("inf")
        self._decreased_at = -float("inf")
        self._history: deque[tuple[float, int]] = deque()  # (time, target) over the last increase interval

    def on_report(self, expected: int, lost: int, now: float) -> None:
        """A receiver report: packets expected and lost since the previous one (negative counts,
        from reordering or duplicates, are taken as none)."""
        self._expected += max(0, expected)
        self._lost += max(0, min(lost, expected))
        if self._expected >= self.limits.min_packets:
            self.loss = self._lost / self._expected
            self._loss_at, self._fresh = now, True
            self._expected = self._lost = 0

    def on_remb(self, bitrate_bps: int) -> None:
        self.remb = max(0, bitrate_bps)

    def update(self, now: float, rtt_s: float = 0.0) -> int:
        """Apply the rules at ``now`` (seconds, any monotonic origin); the new target."""
        lim = self.limits
        rate = self.target_bps
        if self.loss is not None and now - self._loss_at < lim.report_timeout_s:
            if self.loss < lim.low_loss:
                if now - self._increased_at >= lim.increase_interval_s:
                    lowest = min([rate, *(r for t, r in self._history if t >= now - lim.increase_interval_s)])
                    rate = int(lowest * (1 + lim.growth)) + lim.growth_add_bps
                    self._increased_at = now
            elif self.loss > lim.high_loss:
                if self._fresh and now - self._decreased_at >= lim.decrease_interval_s + max(0.0, rtt_s):
                    rate = int(rate * (1 - 0.5 * self.loss))
                    self._decreased_at = now
                    self._fresh = False
        if self.remb is not None:
            rate = min(rate, self.remb)
        self.target_bps = max(lim.floor_bps, rate)
        self._history.append((now, self.target_bps))
        while self._history and self._history[0][0] < now - lim.increase_interval_s:
            self._history.popleft()
        return self.target_bps
