"""Whether video flows in one direction of a participant's link: the fallback to audio and back.

    machine = VideoFallback(timings)
    transition = machine.update(now, verdict, active=True)   # every tick; None or Transition

Pure: the caller samples the link (``linkquality.judge``) and applies the transitions (pauses the
forwarding, tells the people). Three phases:

- ``on``: video flows. A verdict that video cannot be sustained (``verdict.bad``), lasting
  ``after_s`` without a good one in between, switches video off (``Transition(False, reason)``).
- ``off``: audio only. After ``retry_s`` video is tried again (``Transition(True, "recovered")``),
  unless the audio-only link itself loses too much (the trial waits for a clean tick).
- ``trial``: video flows again; the verdicts are judged with the strict floors (hysteresis, see
  ``linkquality.RECOVER_MARGIN``) once ``after_s`` has let the stream restart (a keyframe, the
  sender's rate adapting). A bad verdict then ends the trial (video off again) and doubles the
  wait before the next one, up to ``retry_max_s``; ``hold_s`` without one keeps video (``on``).
  The wait goes back to ``retry_s`` once video has held for ``STABLE_S``.

``active`` is False while the automatic choice does not apply (the person chose audio only, or
sends no camera): the machine then neither falls back nor tries, and a trial under way starts
over when it applies again. The person's choice and the machine's combine: video flows only when
both allow it (the caller pauses the forwarding when either says no).
"""

from __future__ import annotations

import dataclasses
import enum

from .linkquality import Reason, Verdict

__all__ = ["STABLE_S", "FallbackTimings", "Phase", "Transition", "VideoFallback"]

# Video that held this long after a fallback is back for good: the next fallback's first trial
# waits retry_s again instead of the doubled wait (a link that failed once an hour is not flaky).
STABLE_S = 60.0


class Phase(enum.StrEnum):
    ON = "on"
    OFF = "off"
    TRIAL = "trial"


@dataclasses.dataclass(frozen=True, slots=True)
class FallbackTimings:
    """Configurable: ``media_fallback_after_s``, ``media_fallback_retry_s``, ``media_fallback_retry_max_s``,
    ``media_fallback_hold_s``."""

    # "A few seconds": two reports at the default 2 s, so one bad window (a handover, a burst of
    # cross traffic) does not cost the picture, while a freeze is not left to last.
    after_s: float = 4.0
    # The first trial after 10 s: long enough for a passing congestion to clear, short enough that
    # the person is not left without picture for a link that recovered.
    retry_s: float = 10.0
    # Trials then wait 20, 40, 80, 160 s: a link that cannot carry video is not made to choke on a
    # keyframe every few seconds, and one that recovers gets video back within a few minutes.
    retry_max_s: float = 160.0
    # A trial that held 10 s (five reports) without a bad verdict keeps video.
    hold_s: float = 10.0


@dataclasses.dataclass(frozen=True, slots=True)
class Transition:
    video: bool
    reason: Reason  # why video stopped, or RECOVERED when it resumes
    trial_held: bool = False  # no change of video: a trial held and video is kept


class VideoFallback:
    def __init__(self, timings: FallbackTimings):
        self.timings = timings
        self.phase = Phase.ON
        self.reason: Reason | None = None  # why video went off (kept through a trial)
        self._bad_since: float | None = None
        self._bad_reason: Reason | None = None
        self._next_trial: float | None = None
        self._trial_since: float | None = None
        self._wait = timings.retry_s
        self._on_since: float | None = None  # video back since (to reset the wait after STABLE_S)

    @property
    def video(self) -> bool:
        """Whether the automatic choice lets video flow."""
        return self.phase is not Phase.OFF

    @property
    def strict(self) -> bool:
        """Judge with the raised floors (a trial)."""
        return self.phase is Phase.TRIAL

    @property
    def wait_s(self) -> float:
        """How long video stays off before the next trial (the current back-off)."""
        return self._wait

    @property
    def next_trial(self) -> float | None:
        """When the next trial may start (while off)."""
        return self._next_trial if self.phase is Phase.OFF else None

    def update(self, now: float, verdict: Verdict, *, active: bool = True) -> Transition | None:
        t = self.timings
        if not active:
            self._bad_since = None
            if self.phase is Phase.TRIAL:
                self._trial_since = None  # judged afresh once video is wanted again
            return None
        if self.phase is Phase.ON:
            if self._on_since is not None and now - self._on_since >= STABLE_S:
                self._wait, self._on_since = t.retry_s, None
            if not verdict.bad:
                self._bad_since = None
                return None
            if self._bad_since is None:
                self._bad_since = now
            self._bad_reason = verdict.reason
            if now - self._bad_since < t.after_s:
                return None
            return self._off(now, self._bad_reason or Reason.LOW_FRAMERATE)
        if self.phase is Phase.OFF:
            assert self._next_trial is not None
            if now < self._next_trial or (verdict.bad and verdict.reason is Reason.LOSS):
                return None  # not yet, or the audio alone still loses too much: video would not do better
            self.phase = Phase.TRIAL
            self._trial_since = now
            return Transition(True, Reason.RECOVERED)
        if self._trial_since is None:
            self._trial_since = now
        elapsed = now - self._trial_since
        if elapsed < t.after_s:
            return None  # the stream restarts: a keyframe, the sender adapting to the link
        if verdict.bad:
            self._wait = min(self._wait * 2, t.retry_max_s)
            return self._off(now, verdict.reason or Reason.LOW_FRAMERATE)
        if elapsed >= t.after_s + t.hold_s:
            self.phase = Phase.ON
            self.reason = None
            self._on_since = now
            self._trial_since = None
            return Transition(True, Reason.RECOVERED, trial_held=True)
        return None

    def _off(self, now: float, reason: Reason) -> Transition:
        self.phase = Phase.OFF
        self.reason = reason
        self._bad_since = None
        self._trial_since = None
        self._on_since = None
        self._next_trial = now + self._wait
        return Transition(False, reason)
