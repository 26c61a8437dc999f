"""Which of a subscriber's NACKed packets the node resends: a sans-I/O budget (no aiortc, no clock).

A subscriber's browser asks again for every packet it misses, each up to 10 times, about once a
round trip (libwebrtc's NackRequester). On a link the video overflows, the retransmissions are
lost in the same queue and asked for again: on a 100 kbit/s downlink the node answered 1,400
NACKs in 8 s with 2 Mbit/s of retransmissions, twenty times the link. The subscriber's sound
lost 20-30 % and its WebSocket, on the same link, took more than 15 s to deliver the message
that said video had stopped. It went on for seconds after the node had paused the video.

Two rules bound what a NACK costs, as libwebrtc's sender and the SFUs (mediasoup, pion) apply
them:

- **Once a round trip per packet.** A packet resent less than a round trip ago may still be on
  its way. The browser asking again then says nothing yet, and resending it only adds to the
  queue. Before the first receiver report gives a round trip, ``default_rtt_s`` is used.
- **A share of what the section forwards.** The bytes resent over the last ``window_s`` stay
  under ``share`` of the bytes forwarded on the section in that window (the video's own rate,
  which the node already holds to the subscriber's estimate, less the reserve for
  retransmissions and keyframes: ``bandwidth.BandwidthPolicy``). 1-3 % loss needs 1-3 % of
  the video resent, a burst of 10-20 % on a keyframe a little more; ``share`` 0.25 covers
  both. A paused section forwards nothing and so resends nothing: once the node stops video to a
  thin link, the link is left to the audio.

A resent packet that the budget refuses is not lost for good: the browser asks again, and
when the queue has drained a round trip later, it gets through.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass

__all__ = ["RetransmitBudget", "RetransmitPolicy"]


@dataclass(frozen=True, slots=True)
class RetransmitPolicy:
    share: float = 0.25  # of the bytes forwarded over the window (see the module docstring)
    window_s: float = 1.0
    default_rtt_s: float = 0.1  # until a receiver report gives the round trip (mediasoup's default)
    min_rtt_s: float = 0.02  # a loopback's 1 ms must not let a packet be resent 1,000 times a second
    max_rtt_s: float = 1.0  # a satellite-like 1 s still lets a packet be resent once a second


class RetransmitBudget:
    """The state of one sending section. Feed it what it forwards (``sent``, once per packet: one
    comparison and one addition) and ask it about each packet a NACK names (``allow``)."""

    __slots__ = ("_bucket_bytes", "_bucket_start", "_buckets", "_last_resent", "_resent_bytes", "_resent_log",
                 "policy", "refused_rate", "refused_repeat", "resent")

    BUCKET_S = 0.1  # what was forwarded is summed per tenth of a second: 10 entries per window

    def __init__(self, policy: RetransmitPolicy | None = None):
        self.policy = policy or RetransmitPolicy()
        self.resent = 0
        self.refused_repeat = 0  # asked again within a round trip of its last resend
        self.refused_rate = 0  # over the share of what the section forwards
        self._last_resent: dict[int, float] = {}  # sequence number -> when
        self._buckets: collections.deque[tuple[float, int]] = collections.deque()  # closed: (start, bytes)
        self._bucket_start = -math.inf
        self._bucket_bytes = 0
        self._resent_log: collections.deque[tuple[float, int]] = collections.deque()
        self._resent_bytes = 0

    def sent(self, now: float, size: int) -> None:
        """The section forwarded a packet of ``size`` bytes."""
        if now - self._bucket_start < self.BUCKET_S:
            self._bucket_bytes += size
            return
        if self._bucket_bytes:
            self._buckets.append((self._bucket_start, self._bucket_bytes))
            if len(self._buckets) > self.policy.window_s / self.BUCKET_S + 1:
                self._buckets.popleft()
        self._bucket_start, self._bucket_bytes = now, size

    def forwarded(self, now: float) -> int:
        """Bytes forwarded over the last window (to the bucket: a window is 1.0-1.1 s long)."""
        start = now - self.policy.window_s
        total = sum(size for began, size in self._buckets if began + self.BUCKET_S > start)
        return total + (self._bucket_bytes if self._bucket_start + self.BUCKET_S > start else 0)

    def allow(self, seq: int, size: int, now: float, rtt_s: float | None) -> bool:
        """Whether to resend packet ``seq`` (``size`` bytes) now; if so, it is counted as resent."""
        policy = self.policy
        resent = self._resent_log
        while resent and resent[0][0] <= now - policy.window_s:
            self._resent_bytes -= resent.popleft()[1]
        rtt = policy.default_rtt_s if rtt_s is None else min(policy.max_rtt_s, max(policy.min_rtt_s, rtt_s))
        last = self._last_resent.get(seq)
        if last is not None and now - last < rtt:
            self.refused_repeat += 1
            return False
        if self._resent_bytes + size > policy.share * self.forwarded(now):
            self.refused_rate += 1
            return False
        if len(self._last_resent) >= 512:
            # A packet's last resend matters for one round trip (at most max_rtt_s): the table keeps
            # what a second of NACKs names, not the whole stream's history.
            horizon = now - policy.max_rtt_s
            self._last_resent = {s: t for s, t in self._last_resent.items() if t > horizon}
        self._last_resent[seq] = now
        resent.append((now, size))
        self._resent_bytes += size
        self.resent += 1
        return True
