"""The link of every participant of an interview, both directions, sampled every tick.

``LinkMonitor`` is the I/O half of ``linkquality`` and ``fallback``: once a tick (1 s, see
``LinkConfig.tick_s``) it reads, for each participant U,

- *receive* (U's downlink): U's latest ``media_report`` (frame rate decoded and time frozen per
  publisher's video, loss per stream), the node's view of what it sends U (the loss of U's
  receiver reports, U's REMB estimate) and, to judge U's frame rate against, the frame rate the
  node receives from each publisher;
- *send* (U's uplink): the node's receive statistics of U's tracks (loss before retransmission
  per stream, the uplink estimate from abs-send-time, frames per second counted by the RTP marker
  bit) and what U reports of its own sender (camera on, what limits its encoder);

judges each direction (``linkquality.judge``), feeds the verdicts to each direction's
``fallback.VideoFallback`` and applies what changes: video to U paused (every video DownTrack of
U's subscribe connection) or U told to stop sending (``media_fallback`` ``send``) and the
forwarding of U's video paused at every subscriber. Audio is never paused. The person's own
choice (``media_receive``) is kept apart from the automatic one: video flows when both allow it.

What the people are told goes only through ``MediaRoom.broadcast`` and ``Participant.post``:
``media_fallback`` (each transition, to all) and ``media_link`` (everyone's state, to all when a
state changes, and to a participant when it joins or resumes).

A figure enters a verdict only over a window in which video was flowing all along: a report
about a stream that was paused, or restarted during its window (waiting for a keyframe), is not
held against the link.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import time
import weakref
from typing import TYPE_CHECKING, Any

from ..logprivacy import personal
from ..protocol import events
from ..protocol.media import MediaReport
from .fallback import FallbackTimings, Transition, VideoFallback
from .linkquality import FAIR_LOSS, Floors, Level, Reason, Sample, Verdict, judge

if TYPE_CHECKING:
    from .participant import Participant
    from .room import MediaRoom
    from .track import DownTrack, Publication

__all__ = ["DIRECTIONS", "LinkConfig", "LinkCounts", "LinkMonitor", "report_is_current"]

log = logging.getLogger(__name__)

DIRECTIONS = ("receive", "send")
MAX_TICK_S = 1.0  # the link is judged once a second: a report window (2 s) spans two ticks
TICKS_PER_FALLBACK = 4  # with a short media_fallback_after_s (tests), ticks come faster: at least 4 in it
# A report is used for 2.5 report periods: one late report (a busy phone) does not blank the
# figures, two missing ones do (the client stopped reporting; its verdict is then the node's alone).
REPORT_FRESH_PERIODS = 2.5
RATE_WINDOW_S = 2.0  # the node's own frame rate and loss are measured over 2 s, like a report
# Loss over fewer packets is noise (1 lost in 10 is not 10 %): audio sends 50 packets a second,
# video at a low rate 15-30, so a 2 s window has enough of either.
MIN_LOSS_PACKETS = 20
LEVEL_CONFIRM_TICKS = 2  # a level change is shown once seen on 2 ticks running (no flicker on the pages)
LEVEL_ORDER = {Level.UNKNOWN: 0, Level.GOOD: 1, Level.FAIR: 2, Level.POOR: 3}
CAMERA_LIMITS = ("none", "cpu")  # an encoder limited by these sends few frames whatever the link


@dataclasses.dataclass(frozen=True, slots=True)
class LinkConfig:
    floors: Floors = dataclasses.field(default_factory=Floors)
    timings: FallbackTimings = dataclasses.field(default_factory=FallbackTimings)
    report_every_ms: int = 2000

    @property
    def tick_s(self) -> float:
        return min(MAX_TICK_S, self.timings.after_s / TICKS_PER_FALLBACK)

    @property
    def report_fresh_s(self) -> float:
        return self.report_every_ms / 1000 * REPORT_FRESH_PERIODS


class LinkCounts:
    """Transitions since the node started (for /metrics): fallbacks by direction and reason,
    recoveries by direction and result (``trial``: video resumed for a trial; ``held``: it held)."""

    def __init__(self) -> None:
        self.fallbacks: collections.Counter[tuple[str, str]] = collections.Counter()
        self.recoveries: collections.Counter[tuple[str, str]] = collections.Counter()


class _Counter:
    """A cumulative counter sampled every tick: its rate over the last window, and since when it
    has been increasing at every tick (None: it did not increase at the last one)."""

    __slots__ = ("flowing_since", "samples")

    def __init__(self) -> None:
        self.samples: collections.deque[tuple[float, float]] = collections.deque()
        self.flowing_since: float | None = None

    def add(self, now: float, value: float) -> None:
        last = self.samples[-1][1] if self.samples else None
        if last is not None and value < last:  # a new source: counters start over
            self.samples.clear()
            last = None
        if last is None or value <= last:
            self.flowing_since = None
        elif self.flowing_since is None:
            self.flowing_since = now  # it started within the last tick: claim no earlier
        self.samples.append((now, value))
        while len(self.samples) > 2 and self.samples[1][0] <= now - RATE_WINDOW_S:
            self.samples.popleft()

    def flowing_for(self, now: float) -> float:
        return 0.0 if self.flowing_since is None else now - self.flowing_since

    def rate(self, now: float) -> float | None:
        """Per second over the window, if it flowed all along the window (or at least half of it)."""
        if self.flowing_since is None:
            return None
        start = next(((t, v) for t, v in self.samples if t >= self.flowing_since), None)
        if start is None:
            return None
        t, v = self.samples[-1]
        span = t - start[0]
        if span < RATE_WINDOW_S / 2:
            return None
        return (v - start[1]) / span


class _Loss:
    """Loss before retransmission over the window, from cumulative expected and lost counts."""

    __slots__ = ("samples",)

    def __init__(self) -> None:
        self.samples: collections.deque[tuple[float, int, int]] = collections.deque()

    def add(self, now: float, expected: int, lost: int) -> None:
        if self.samples and expected < self.samples[-1][1]:
            self.samples.clear()  # a new source
        self.samples.append((now, expected, lost))
        while len(self.samples) > 2 and self.samples[1][0] <= now - RATE_WINDOW_S:
            self.samples.popleft()

    def reset(self) -> None:
        self.samples.clear()

    def fraction(self) -> float | None:
        return self._between(0)

    def recent_fraction(self) -> float | None:
        """Over the last tick only: a loss that began within the window shows here first."""
        return self._between(-2)

    def _between(self, first: int) -> float | None:
        if len(self.samples) < 2:
            return None
        _, e0, l0 = self.samples[first]
        _, e1, l1 = self.samples[-1]
        expected = e1 - e0
        if expected < MIN_LOSS_PACKETS:
            return None
        return min(1.0, max(0.0, (l1 - l0) / expected))


@dataclasses.dataclass(slots=True)
class _Shown:
    """One direction's state as last announced, and a level change waiting for confirmation."""

    level: Level = Level.UNKNOWN
    video: bool = True
    reason: Reason | None = None
    pending: Level | None = None
    pending_ticks: int = 0
    figures: dict[str, Any] = dataclasses.field(default_factory=dict)

    def entry(self) -> dict[str, Any]:
        return {"level": str(self.level), "video": self.video,
                "reason": None if self.reason is None else str(self.reason), **self.figures}


class _ParticipantLinks:
    def __init__(self, timings: FallbackTimings):
        self.machines = {d: VideoFallback(timings) for d in DIRECTIONS}
        self.shown = {d: _Shown() for d in DIRECTIONS}
        self.report: MediaReport | None = None
        self.report_at = 0.0
        self.report_window_s = 0.0
        self.send_changed_at = 0.0  # the last send transition: reports older than it say what was
        self.receive_changed_at: float | None = None  # the last receive transition (None: none yet)


def report_is_current(since: float | None, changed_at: float | None) -> bool:
    """Whether a receiver report's loss, counted since ``since`` (None: since the stream started),
    describes the link as it is since video to the subscriber last went off or on (``changed_at``).
    Chromium reports sound every ~5 s: after a thin downlink's fallback, its report of the sound
    still carried the 13-27 % lost while video choked the link, 4-6 s after the cap was lifted
    and the page itself measured no loss; the trial of video then failed on that figure (1 run
    in 4 on a loaded machine)."""
    return changed_at is None or (since is not None and since >= changed_at)


def _worst(verdicts: list[tuple[Verdict, dict[str, Any]]]) -> tuple[Verdict, dict[str, Any]]:
    return max(verdicts, key=lambda v: (v[0].bad, LEVEL_ORDER[v[0].level]))


def _worse(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


class LinkMonitor:
    """One interview's links. The service calls ``tick`` every ``config.tick_s``."""

    def __init__(self, room: MediaRoom, config: LinkConfig, counts: LinkCounts):
        self.room = room
        self.config = config
        self.counts = counts
        self._links: dict[str, _ParticipantLinks] = {}
        # Figures per track, held weakly: a track that closes leaves its tables at once, not at the next
        # tick. A teardown's full collection (rtserver.gcpolicy) runs shortly after the leave; a
        # participant still referenced from here then would stay in memory until the next teardown.
        self._frames: weakref.WeakKeyDictionary[Publication, _Counter] = weakref.WeakKeyDictionary()  # marker bits
        self._packets: weakref.WeakKeyDictionary[Publication, _Counter] = weakref.WeakKeyDictionary()
        self._loss: weakref.WeakKeyDictionary[Publication, _Loss] = weakref.WeakKeyDictionary()
        # when the node last measured FAIR_LOSS or more on each publication (_source_degraded)
        self._degraded_at: weakref.WeakKeyDictionary[Publication, float] = weakref.WeakKeyDictionary()
        # packets the node forwards on each section, and the loss in the subscriber's last receiver report
        self._sent: weakref.WeakKeyDictionary[DownTrack, _Counter] = weakref.WeakKeyDictionary()
        # (loss, since): since when the last report's loss was counted (None: the stream's start)
        self._report_loss: weakref.WeakKeyDictionary[DownTrack, tuple[float, float | None]] = \
            weakref.WeakKeyDictionary()
        # (flowing since, first report after it with decoded frames): see _receive
        self._decoding: weakref.WeakKeyDictionary[DownTrack, tuple[float, float]] = weakref.WeakKeyDictionary()
        self._announced: list[tuple[Any, ...]] | None = None

    def _state(self, user: str) -> _ParticipantLinks:
        links = self._links.get(user)
        if links is None:
            links = self._links[user] = _ParticipantLinks(self.config.timings)
        return links

    # -- inputs ------------------------------------------------------------------------------
    def report(self, participant: Participant, report: MediaReport, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        links = self._state(participant.user_id)
        every = self.config.report_every_ms / 1000
        # The window a report covers: since the previous one, within reason (a first report, or one
        # after a long silence, covers one period).
        window = now - links.report_at if links.report is not None else every
        links.report_window_s = window if every / 4 <= window <= every * REPORT_FRESH_PERIODS else every
        links.report = report
        links.report_at = now

    def joined(self, participant: Participant) -> None:
        """Tell a participant who joined or resumed the state of everyone's links."""
        self._state(participant.user_id)
        participant.post(self._event(self._entries()))

    # -- the tick ----------------------------------------------------------------------------
    async def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        room = self.room
        for user in [u for u in self._links if u not in room.participants]:
            del self._links[user]
        await self._sample(now)
        for participant in list(room.participants.values()):
            links = self._state(participant.user_id)
            for direction in DIRECTIONS:
                verdict, figures, active, by_choice = (self._receive(participant, links, now) if direction == "receive"
                                                       else self._send(participant, links, now))
                machine = links.machines[direction]
                transition = machine.update(now, verdict, active=active)
                if transition is not None:
                    self._apply(participant, links, direction, transition, now, figures)
                self._show(links.shown[direction], machine, verdict, figures, by_choice)
        entries = self._entries()
        state = [(e["user"], *((e[d]["level"], e[d]["video"], e[d]["reason"]) for d in DIRECTIONS)) for e in entries]
        if state != self._announced:  # the states, not the figures: those change at every tick
            self._announced = state
            room.broadcast(self._event(entries))

    async def _sample(self, now: float) -> None:
        publications = set(self.room.publications.values())
        for table in (self._frames, self._packets, self._loss, self._degraded_at):
            for gone in [p for p in table if p not in publications]:
                del table[gone]
        for publication in publications:
            self._frames.setdefault(publication, _Counter()).add(now, publication.frames)
            self._packets.setdefault(publication, _Counter()).add(now, publication.packets)
            stats = publication.inbound.stats() if publication.inbound is not None else {}
            if "packets_expected" in stats:
                uplink = self._loss.setdefault(publication, _Loss())
                uplink.add(now, stats["packets_expected"], stats["packets_lost"])
                # The last tick's loss too: a subscriber's receiver report can cover the first
                # second of a loss that the node's 2 s window still dilutes under FAIR_LOSS.
                if any(f is not None and f >= FAIR_LOSS for f in (uplink.fraction(), uplink.recent_fraction())):
                    self._degraded_at[publication] = now
        downtracks = {d for p in self.room.participants.values() for d in p.subscriber.downtracks
                      if d.publication is not None}
        for by_downtrack in (self._sent, self._report_loss, self._decoding):
            for left in [d for d in by_downtrack if d not in downtracks]:
                del by_downtrack[left]
        for downtrack in downtracks:
            counter = self._sent.setdefault(downtrack, _Counter())
            if downtrack.paused:
                counter.flowing_since = None
                counter.samples.clear()
            counter.add(now, downtrack.outbound.packets)
            if counter.flowing_since is not None:
                stats = await downtrack.outbound.stats()
                loss = stats.get("loss")
                if loss is None:
                    self._report_loss.pop(downtrack, None)
                else:
                    self._report_loss[downtrack] = (loss, stats.get("loss_since"))

    def _receive(self, participant: Participant, links: _ParticipantLinks, now: float
                 ) -> tuple[Verdict, dict[str, Any], bool, bool]:
        """U's downlink: its report about each publisher's video that flowed all along the report's
        window, against what the node gets from that publisher; loss and REMB of what flows."""
        machine = links.machines["receive"]
        report = links.report if links.report is not None and now - links.report_at <= self.config.report_fresh_s \
            else None
        window_start = links.report_at - links.report_window_s
        flowing: dict[tuple[str, str], DownTrack] = {}
        downtrack: DownTrack | None  # the loops below bind it: each its own
        losses: list[float] = []
        video_losses: list[float] = []  # counted only while the picture suffers (linkquality.judge)
        estimates: list[float] = []
        for downtrack in participant.subscriber.downtracks:
            publication = downtrack.publication
            counter = self._sent.get(downtrack)
            if publication is None or counter is None or downtrack.paused or counter.flowing_since is None:
                continue
            if self._source_degraded(publication, now):
                continue  # what U gets of it is no better than what reaches the node: not U's link
            flowing[(publication.owner, publication.kind)] = downtrack
            if counter.flowing_for(now) >= RATE_WINDOW_S:
                reported = self._report_loss.get(downtrack)
                if reported is not None and report_is_current(reported[1], links.receive_changed_at):
                    (video_losses if downtrack.kind == "video" else losses).append(reported[0])
                # An estimate that never fell since video (re)started to U is still finding the link
                # (it grows from what flows, at most 1.5 times it): not a measure of a thin one.
                if downtrack.kind == "video" and downtrack.outbound.remb_bps and downtrack.remb_trend.congested:
                    estimates.append(downtrack.outbound.remb_bps / 1000)
        videos: list[tuple[float | None, float | None, float | None]] = []  # (fps, source fps, frozen share)
        for entry in report.receive if report is not None else ():
            downtrack = flowing.get((entry.user, entry.kind))
            if downtrack is None:
                continue
            since = self._sent[downtrack].flowing_since
            if since is None or since > window_start:
                continue  # restarted (or paused) within the report's window
            if entry.loss is not None:
                (video_losses if entry.kind == "video" else losses).append(entry.loss)
            if entry.kind == "video" and (entry.fps is not None or entry.frozen_ms is not None):
                source = None if downtrack.publication is None else self._frames.get(downtrack.publication)
                frozen = None if entry.frozen_ms is None else min(1.0, entry.frozen_ms / 1000 / links.report_window_s)
                # The first report that shows the picture again after video (re)started to U counts
                # its frame rate, not its freezes: a restart stalls on its keyframe (Chromium, after a
                # thin downlink was restored: 34 fps, but 1.6 s of 2 frozen, and the trial failed).
                decoding = self._decoding.get(downtrack)
                if decoding is None or decoding[0] != since:
                    frozen = None
                    if entry.fps:
                        self._decoding[downtrack] = (since, links.report_at)
                elif decoding[1] >= links.report_at:
                    frozen = None
                videos.append((entry.fps, None if source is None else source.rate(now), frozen))
        loss, kbps = max(losses) if losses else None, min(estimates) if estimates else None
        video_loss = max(video_losses) if video_losses else None
        samples = [Sample(fps=fps, source_fps=src, frozen_share=frozen, loss=loss, video_loss=video_loss, kbps=kbps)
                   for fps, src, frozen in videos] or [Sample(loss=loss, video_loss=video_loss, kbps=kbps)]
        verdict, figures = _worst([(judge(s, self.config.floors, strict=machine.strict),
                                    {"fps": _round(s.fps, 1), "loss": _round(_worse(s.loss, s.video_loss), 3)})
                                   for s in samples])
        if log.isEnabledFor(logging.DEBUG):  # what each tick judged: why a fallback came, or did not
            log.debug("interview %s: link to %s: %s %s; report %s, flowing %s, samples %s", personal(self.room.id),
                      personal(participant.user_id), verdict.level, verdict.reason,
                      "none" if report is None else f"{now - links.report_at:.1f} s old",
                      sorted(k for _, k in flowing), samples)
        by_choice = not participant.subscriber.receive_video
        return verdict, figures, not by_choice, by_choice

    def _source_degraded(self, publication: Publication, now: float) -> bool:
        """Whether a stream already reaches the node degraded: its publisher's uplink loses FAIR_LOSS
        or more of any of its streams (the audio, at 50 packets a second, shows it when the video
        is too sparse to measure). A subscriber gets no better (the node forwards the gaps as they
        came), so its frame rate, freezes, loss and estimate for that publisher say nothing of its
        own downlink: with a jobseeker's uplink at 100 kbit/s the advisor reported his video at
        0.5 fps with 67 % loss, and the node stopped video to her, on a clean link. (A low frame
        rate at the source is no such sign: the node itself holds a publisher down for a thin
        subscriber, whose downlink must still be judged.)

        A stream counts as degraded for as long as a subscriber's figures can still describe the
        time it was: a report covers the period before it and is used for ``report_fresh_s`` after
        (7 s in all at the default 2 s). Judged on the node's last 2 s alone, a Chromium jobseeker
        whose 100 kbit/s uplink had lost 10-16 % of his sound until his sender backed off was
        already "clean" while the advisor's reports of that sound still said 10-16 % lost: her
        reception was judged poor for 4 s, and his page told him her connection was the trouble."""
        memory = self.config.report_fresh_s + self.config.report_every_ms / 1000
        streams = self.room.publications_of(publication.owner)
        measured = [self._loss[p] for p in streams if p in self._loss]
        if measured and all(len(loss.samples) < 2 for loss in measured):
            # Not measured at the node yet (its first tick): a subscriber's loss then cannot be told
            # apart from the publisher's (a Chromium advisor reported 4-12 % of a jobseeker's sound
            # lost, his uplink just capped, while the node had one sample of his streams).
            return True
        for mine in streams:
            at = self._degraded_at.get(mine)
            if at is not None and now - at <= memory:
                return True
        return False

    def _send(self, participant: Participant, links: _ParticipantLinks, now: float
              ) -> tuple[Verdict, dict[str, Any], bool, bool]:
        """U's uplink: loss of each of its streams at the node, the uplink estimate and the frame
        rate the node receives (unless U's encoder says its camera or CPU limits it)."""
        machine = links.machines["send"]
        report = links.report if links.report is not None and links.report_at > links.send_changed_at \
            and now - links.report_at <= self.config.report_fresh_s else None
        sender = None if report is None else report.send
        mine = self.room.publications_of(participant.user_id)
        video = next((p for p in mine if p.kind == "video"), None)
        by_choice = video is None or (machine.video and sender is not None and sender.video is False)
        losses = []
        fps = kbps = None
        for publication in mine:
            packets = self._packets.get(publication)
            if packets is None or packets.flowing_for(now) < RATE_WINDOW_S:
                loss = self._loss.get(publication)
                if loss is not None:
                    loss.reset()  # measured afresh once the stream flows again
                continue
            loss_window = self._loss.get(publication)
            fraction = None if loss_window is None else loss_window.fraction()
            if fraction is not None:
                losses.append(fraction)
            if publication is video:
                if sender is None or sender.limited not in CAMERA_LIMITS:
                    fps = self._frames[publication].rate(now)
                # Counted once it fell (overuse) since it started over (see _apply): before, it grows
                # from what flows, and a sender ramping up after a pause reads as a thin link.
                estimate = None if publication.inbound is None or not publication.uplink_congested \
                    else publication.inbound.uplink_estimate_bps
                kbps = None if estimate is None else estimate / 1000
        sample = Sample(fps=fps, loss=max(losses) if losses else None, kbps=kbps,
                        limited=sender is not None and sender.limited == "bandwidth")
        verdict = judge(sample, self.config.floors, strict=machine.strict)
        figures = {"kbps": None if kbps is None else int(kbps), "loss": _round(sample.loss, 3),
                   "fps": _round(fps, 1)}
        return verdict, figures, not by_choice, by_choice

    # -- outputs -----------------------------------------------------------------------------
    def _apply(self, participant: Participant, links: _ParticipantLinks, direction: str, transition: Transition,
               now: float, figures: dict[str, Any]) -> None:
        if transition.trial_held:
            self.counts.recoveries[(direction, "held")] += 1
            return
        if transition.video:
            self.counts.recoveries[(direction, "trial")] += 1
        else:
            self.counts.fallbacks[(direction, str(transition.reason))] += 1
        # The figures that decided (numbers only): why a call fell back is the first thing asked of a log.
        log.info("interview %s: video %s %s: %s %s", personal(self.room.id), "to" if direction == "receive" else "from",
                 personal(participant.user_id), "back (trial)" if transition.video else f"off ({transition.reason})",
                 " ".join(f"{k}={v}" for k, v in figures.items() if v is not None))
        if direction == "receive":
            links.receive_changed_at = now
            participant.auto_receive_video = transition.video
            participant.subscriber.apply_pauses()
        else:
            participant.auto_send_video = transition.video
            links.send_changed_at = now
            if transition.video:
                for publication in self.room.publications_of(participant.user_id):
                    if publication.kind == "video":
                        publication.restart_uplink()
            for other in self.room.participants.values():
                if other is not participant:
                    other.subscriber.apply_pauses()
        self.room.broadcast(events.media_fallback(self.room.id, participant.user_id, direction, transition.video,
                                                  str(transition.reason)))

    def _show(self, shown: _Shown, machine: VideoFallback, verdict: Verdict, figures: dict[str, Any],
              by_choice: bool) -> None:
        shown.figures = figures
        reason: Reason | None
        if by_choice:
            level, video, reason = verdict.level, False, Reason.BY_CHOICE
        elif not machine.video:
            level, video, reason = Level.POOR, False, machine.reason
        else:
            level, video, reason = verdict.level, True, verdict.reason
        if video != shown.video or reason is Reason.BY_CHOICE or shown.reason is Reason.BY_CHOICE:
            shown.level, shown.video, shown.reason, shown.pending = level, video, reason, None
            return
        if level == shown.level:
            shown.reason, shown.pending = reason, None
            return
        if level != shown.pending:
            shown.pending, shown.pending_ticks = level, 0
        shown.pending_ticks += 1
        if shown.pending_ticks >= LEVEL_CONFIRM_TICKS or shown.level is Level.UNKNOWN:
            shown.level, shown.reason, shown.pending = level, reason, None

    def _entries(self) -> list[dict[str, Any]]:
        out = []
        for user in self.room.participants:
            links = self._state(user)
            out.append({"user": user, **{d: links.shown[d].entry() for d in DIRECTIONS}})
        return out

    def _event(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        return events.media_link(self.room.id, entries)
