"""Per-connection protocol state: authentication phase, rate limit and abuse accounting.

Pure code driven by the transport with a clock value; it decides, the transport acts.
"""

from __future__ import annotations

import enum

from ..errors import ErrorCode, LimitExceeded, RtError
from .media import REPORT_MIN_INTERVAL_MS, MediaReport
from .requests import Auth, Join, Leave, Ping, Request

__all__ = ["Session", "SessionState", "TokenBucket", "ViolationWindow"]


class SessionState(enum.Enum):
    AWAITING_AUTH = "awaiting_auth"
    OPEN = "open"
    CLOSED = "closed"


class TokenBucket:
    """``rate_per_s`` sustained, ``burst`` at once. ``take`` returns 0 or the ms to wait."""

    __slots__ = ("_burst", "_rate", "_stamp", "_tokens")

    def __init__(self, rate_per_s: float, burst: int, now: float):
        self._rate = rate_per_s
        self._burst = float(burst)
        self._tokens = float(burst)
        self._stamp = now

    def take(self, now: float) -> int:
        self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0
        return max(1, int((1.0 - self._tokens) / self._rate * 1000))


class ViolationWindow:
    """Counts violations over a sliding minute (two half-minute buckets)."""

    __slots__ = ("_bucket_start", "_current", "_limit", "_previous")
    BUCKET_S = 30.0

    def __init__(self, limit: int, now: float):
        self._limit = limit
        self._bucket_start = now
        self._current = 0
        self._previous = 0

    def add(self, now: float) -> bool:
        """Record one violation; True when the limit is exceeded and the connection should close."""
        elapsed = now - self._bucket_start
        if elapsed >= self.BUCKET_S:
            self._previous = self._current if elapsed < 2 * self.BUCKET_S else 0
            self._current = 0
            self._bucket_start = now
        self._current += 1
        return self._current + self._previous > self._limit


class Session:
    """Joins and leaves draw from a budget of their own: a console joining every conversation of a
    150-jobseeker portfolio, or a client rejoining all its rooms after a reconnect, sends them in
    one burst, which the message budget (and the abuse window behind it) must not punish.

    Every frame first draws from the frame budget, before it is decoded: which of the two budgets
    a request belongs to is only known once it is parsed, and parsing is the work a flood must not
    get for free. The frame budget is the two together (rates and bursts added), so a client within
    both never meets it; keepalives and token refreshes, exempt from both, draw from it too (a ping
    every few seconds is nothing beside it).

    Media reports (``media_report``, one every 2 s by default) have a budget of their own too: a
    report every ``REPORT_MIN_INTERVAL_MS`` (500 ms) sustained, 2 at once (a report sent just
    before and just after a reconnect), so they never eat into the requests' budget and a client
    cannot report faster than the node uses the figures."""

    __slots__ = ("_bucket", "_frames", "_joins", "_reports", "_violations", "state")
    REPORT_BURST = 2

    def __init__(self, *, rate_per_s: float, burst: int, max_violations: int, now: float,
                 joins_per_s: float | None = None, join_burst: int | None = None):
        self.state = SessionState.AWAITING_AUTH
        self._bucket = TokenBucket(rate_per_s, burst, now)
        self._joins = TokenBucket(joins_per_s or rate_per_s, join_burst or burst, now)
        reports_per_s = 1000 / REPORT_MIN_INTERVAL_MS
        self._reports = TokenBucket(reports_per_s, self.REPORT_BURST, now)
        self._frames = TokenBucket(rate_per_s + (joins_per_s or rate_per_s) + reports_per_s,
                                   burst + (join_burst or burst) + self.REPORT_BURST, now)
        self._violations = ViolationWindow(max_violations, now)

    def admit_frame(self, now: float) -> None:
        """Before decoding: raise rate_limited when the connection's frames exceed the frame budget."""
        wait_ms = self._frames.take(now)
        if wait_ms:
            raise LimitExceeded("too many frames: refused unread", code=ErrorCode.RATE_LIMITED,
                                retry_after_ms=wait_ms)

    def admit(self, request: Request, now: float) -> None:
        """After parsing: raise the error to answer with, or return when the request may proceed."""
        if self.state is SessionState.AWAITING_AUTH:
            if not isinstance(request, Auth):
                raise RtError("authenticate first: send {type: 'auth', token}", code=ErrorCode.UNAUTHORIZED)
            return
        if isinstance(request, Ping | Auth):
            return  # keepalives and token refreshes are never rate limited
        if isinstance(request, MediaReport):
            wait_ms = self._reports.take(now)
            if wait_ms:
                raise LimitExceeded(f"at most one media_report every {REPORT_MIN_INTERVAL_MS} ms",
                                    code=ErrorCode.RATE_LIMITED, retry_after_ms=wait_ms)
            return
        wait_ms = (self._joins if isinstance(request, Join | Leave) else self._bucket).take(now)
        if wait_ms:
            raise LimitExceeded("too many requests", code=ErrorCode.RATE_LIMITED, retry_after_ms=wait_ms)

    def authenticated(self) -> None:
        self.state = SessionState.OPEN

    def violation(self, now: float) -> bool:
        return self._violations.add(now)
