"""What the node asks a publisher to send: pure arithmetic over bandwidth estimates (no aiortc, no clock).

The node forwards without transcoding, so the only lever it has on a subscriber's downlink is
the bitrate it asks the publisher for (REMB). Two rules, as WebRTC's own bitrate allocator and
the SFUs built on it apply them:

- **Headroom and audio first.** A subscriber's estimate is the capacity of its whole downlink,
  on which the video shares the link with the audio it receives (Opus voice is about 32 kbit/s
  of payload, 45-50 kbit/s on the wire with RTP/SRTP/UDP/IP headers at 50 packets/s), the
  retransmissions its NACKs ask for and the keyframes its PLIs ask for (a keyframe is 5-10
  times a delta frame). Asking the publisher for the whole estimate fills the link with video
  and overflows its queue on every keyframe: the audio in that queue is lost with it. So the
  video gets the estimate minus ``audio_bps`` per audio stream the subscriber receives, minus
  ``overhead_ratio`` of the estimate.
- **Estimates that have not seen congestion do not hold a publisher back.** A receive-side
  estimator (Chrome's, and aiortc's the node runs on each publisher's uplink) starts, 3-5 s into
  the stream, at the rate it has *seen*, then grows by at most 8 %/s and never above 1.5 times
  what it receives (+10 kbit/s). Until it has found the link's limit it is a lower bound of the
  capacity, not a ceiling: passed on as a REMB, its first value (the encoder's warm-up:
  keyframes, a few frames per second) pulled Chromium from its 300 kbit/s start down to 150-180
  kbit/s, and the 1.5x clamp then kept it at 320x240, bandwidth-limited, about 350 kbit/s after
  20 s on a clean link. An estimate limits the publisher only once it has fallen (what these
  estimators do only on overuse: to 0.85 times their throughput); before that the publisher
  ramps by its own congestion control (Chromium: loss-based, +8 %/s from 300 kbit/s) up to
  ``max_bps``. A subscriber's estimate that fell stays a ceiling (it measured that link); the
  node's own uplink estimate counts only for ``uplink_hold_s`` after each fall: the publisher's
  own congestion control guards its uplink, and that estimator, fed with arrival times taken
  in an asyncio loop, takes the node's own scheduling stalls for queuing delay.

The reservation is bounded by ``max_reserve_ratio`` of the estimate: an estimator that is still
growing reports at most 1.5 times the video it receives (+10 kbit/s), so a target under
1/1.5 = 67 % of it would shrink the video at every report, down to the floor, even on an empty
link; 25 % keeps 0.75 x 1.5 = 1.125 > 1.08, the estimators' own growth per second.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass

__all__ = ["RESUME_GRACE_S", "BandwidthPolicy", "EstimateTrend"]

# How long after video resumes to a subscriber (a trial after a fallback to audio) an estimate
# under what the node sends is not read as congestion. The subscriber's estimator is not fresh
# then: it keeps the value it fell to on the thin link (an AIMD estimator falls to 0.85 times its
# throughput: under 100 kbit/s on a 100 kbit/s downlink) and climbs back by at most 8 %/s, while
# the node forwards the publisher's full rate at once (a keyframe, then 0.5-1.5 Mbit/s). Read as
# congestion, that stale value caps the publisher near the floor (30 kbit/s) and the trial fails
# for "low bandwidth" on a restored link. From 80 kbit/s, 0.7 times a 500 kbit/s video takes
# ln(350 / 80) / ln(1.08) = 19 s: 20 s. A link still too thin is not left to overflow meanwhile:
# the trial judges its loss and frame rate from ``media_fallback_after_s`` (4 s) on, and a fall of
# the estimate (overuse) still counts at once.
RESUME_GRACE_S = 20.0


@dataclass(frozen=True, slots=True)
class BandwidthPolicy:
    """The numbers of the rules above; every value in bit/s unless named otherwise."""

    # Per audio stream the subscriber receives: Opus voice (32 kbit/s, what Chromium sends for
    # a microphone) plus 50 packets/s of headers (IP 20 + UDP 8 + RTP 12 + extensions 8-12 +
    # SRTP tag 10 bytes = about 25 kbit/s on the wire), rounded down to what the estimators see.
    audio_bps: int = 48_000
    # Retransmissions and keyframes: at 1-3 % loss NACKs resend 1-3 % of the video, a keyframe
    # every few seconds adds 5-10 %; 10 % leaves room for both (Chromium itself keeps about 10 %
    # of its estimate for retransmissions when loss is reported).
    overhead_ratio: float = 0.10
    # See the module docstring: at most this share of an estimate is held back.
    max_reserve_ratio: float = 0.25
    # The least the node ever asks for: Chromium's minimum video bitrate; less changes nothing.
    floor_bps: int = 30_000
    # What the node asks for while no estimate has seen congestion: above what a webcam interview
    # uses (Chromium sends at most 1.7-2.5 Mbit/s for 640x480-1280x720), so the publisher's own
    # congestion control sets the pace.
    max_bps: int = 5_000_000
    # The least video worth sending: under it (after the reservations) a subscriber's link
    # carries the audio, not the video (the fallback to audio-only reads ``carries_video``).
    video_min_bps: int = 100_000
    # How long the node's own uplink estimate caps the publisher after it fell (overuse).
    uplink_hold_s: float = 10.0

    def video_share(self, estimate_bps: int, audio_streams: int) -> int:
        """What the video may use of a link estimated at ``estimate_bps`` that also carries
        ``audio_streams`` audio streams, retransmissions and keyframes (never under the floor)."""
        estimate = max(0, estimate_bps)
        reserve = min(max(0, audio_streams) * self.audio_bps + self.overhead_ratio * estimate,
                      self.max_reserve_ratio * estimate)
        return max(self.floor_bps, int(estimate - reserve))

    def carries_video(self, estimate_bps: int, audio_streams: int) -> bool:
        """Whether a link estimated at ``estimate_bps`` leaves the video its minimum useful rate once
        the audio and the overhead are served in full (the reserve not bounded as in ``video_share``)."""
        full_reserve = max(0, audio_streams) * self.audio_bps + self.overhead_ratio * estimate_bps
        return estimate_bps - full_reserve >= self.video_min_bps

    def publisher_target(self, subscribers: list[tuple[int, int, bool]],
                         uplink: tuple[int, float] | None, now: float) -> int | None:
        """The REMB for a publisher: the lowest video share of its subscribers' estimates that have
        fallen ((estimate, audio streams received, fell once) each) and, within ``uplink_hold_s`` of
        its last fall, of its uplink's ((estimate, time it fell)); ``max_bps`` when none limits it;
        None when there is no estimate at all (nothing to send)."""
        if not subscribers and uplink is None:
            return None
        targets = [self.video_share(e, n) for e, n, fell in subscribers if fell]
        if uplink is not None:
            estimate, fell_at = uplink
            if now - fell_at <= self.uplink_hold_s:
                targets.append(self.video_share(estimate, 1))  # the publisher's own audio shares its uplink
        return min([*targets, self.max_bps])


class EstimateTrend:
    """Follows one estimator's successive values and says whether it has seen congestion.

    Two signs of it:
    - a fall: a value more than ``fall_ratio`` under the previous one (AIMD estimators only ever
      lower their value on overuse, to 0.85 times their throughput, and raise it otherwise);
    - a value under ``below_sent_ratio`` of what the node sent on that path over the last
      ``sent_window_s`` (``sent_bytes``: its cumulative count of payload bytes, given with each
      value). A receive-side estimator reads what *arrives*: its first value is the throughput it
      saw and it never reports more than 1.5 times it, so on a path that delivers what it is sent
      its value is at or above the sent rate, and a value under 0.7 times it says the path drops the
      rest. A bottleneck whose queue stays full (a tbf, a mobile link's buffer) shows no growing
      delay, so the estimator never falls there: on a 250 kbit/s downlink the node kept asking the
      publisher for its maximum (500 kbit/s and rising) while the link dropped a third of all it
      carried, the subscriber's audio with it (30 % lost until video stopped 8 s in).

    ``resumed`` starts one for a stream that resumes after a pause: the second sign counts only
    from ``RESUME_GRACE_S`` on (``below_sent_from``).
    """

    __slots__ = ("_below_sent_ratio", "_fall_ratio", "_last", "_sent", "_sent_window_s", "below_sent_from",
                 "fell_at")

    def __init__(self, fall_ratio: float = 0.05, below_sent_ratio: float = 0.7, sent_window_s: float = 2.0, *,
                 below_sent_from: float = -math.inf):
        self._fall_ratio = fall_ratio
        self._below_sent_ratio = below_sent_ratio
        self._sent_window_s = sent_window_s
        self._last: int | None = None
        self._sent: collections.deque[tuple[float, int]] = collections.deque()
        self.fell_at = -math.inf  # when the value last fell or read under what was sent (monotonic seconds)
        self.below_sent_from = below_sent_from  # a value under what was sent counts from then (monotonic seconds)

    @classmethod
    def resumed(cls, now: float, grace_s: float = RESUME_GRACE_S) -> EstimateTrend:
        """The trend of an estimator that saw the stream pause and resume at ``now``."""
        return cls(below_sent_from=now + grace_s)

    @property
    def congested(self) -> bool:
        return self.fell_at > -math.inf

    def sent_bps(self) -> float | None:
        """What was sent over the window (None: under half a window of samples, or nothing new)."""
        if len(self._sent) < 2:
            return None
        (t0, b0), (t1, b1) = self._sent[0], self._sent[-1]
        if t1 - t0 < self._sent_window_s / 2 or b1 <= b0:
            return None
        return (b1 - b0) * 8 / (t1 - t0)

    def update(self, value: int, now: float, sent_bytes: int | None = None) -> None:
        if self._last is not None and value < self._last * (1 - self._fall_ratio):
            self.fell_at = now
        self._last = value
        if sent_bytes is None:
            return
        if self._sent and sent_bytes < self._sent[-1][1]:
            self._sent.clear()  # another source (a count that restarted)
        self._sent.append((now, sent_bytes))
        while len(self._sent) > 2 and self._sent[1][0] <= now - self._sent_window_s:
            self._sent.popleft()
        sent = self.sent_bps()
        if sent is not None and now >= self.below_sent_from and value < self._below_sent_ratio * sent:
            self.fell_at = now
