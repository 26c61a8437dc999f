"""How well one direction of a participant's link carries the interview: pure, no sockets.

    judge(sample, floors, strict=False) -> Verdict(level, reason, bad)

A ``Sample`` is what was measured over the last few seconds in one direction: for *receive* (what
the node sends the participant) the frame rate the participant decodes against the frame rate
the node gets from the publisher, the loss it and the node's receiver reports see, its bandwidth
estimate (REMB); for *send* (what the participant sends the node) the frame rate the node
receives, the loss it sees and its estimate of the uplink. A missing figure is not measured.

The verdict's ``level`` is what the indicators show (``good``, ``fair``, ``poor``, ``unknown``);
``bad`` says that video cannot be sustained in this direction now, for ``reason``
(``low_bandwidth``: the estimate is under the floor while the video suffers or its sender says
bandwidth holds it back; ``loss``; ``low_framerate``): what ``fallback.VideoFallback`` acts on once it
has lasted a few seconds. ``strict`` raises the floors by ``RECOVER_MARGIN``: a trial of video
after a fallback must clear them with room to spare (hysteresis), or it is given up.
"""

from __future__ import annotations

import dataclasses
import enum

__all__ = ["FAIR_FPS", "FAIR_KBPS", "FAIR_LOSS", "FROZEN_SHARE_FAIR", "FROZEN_SHARE_POOR", "RECOVER_MARGIN",
           "SOURCE_SHARE", "SOURCE_SHARE_FAIR", "Floors", "Level", "Reason", "Sample", "Verdict", "judge"]


class Level(enum.StrEnum):
    GOOD = "good"
    FAIR = "fair"
    POOR = "poor"
    UNKNOWN = "unknown"


class Reason(enum.StrEnum):
    LOW_FRAMERATE = "low_framerate"
    LOW_BANDWIDTH = "low_bandwidth"
    LOSS = "loss"
    BY_CHOICE = "by_choice"  # the person chose audio only (media_receive video:false, camera off)
    RECOVERED = "recovered"  # video is back (media_fallback video:true)


@dataclasses.dataclass(frozen=True, slots=True)
class Floors:
    """Below these, video is not worth sending (the node falls back to audio). Configurable:
    ``media_video_min_fps``, ``media_video_min_kbps``, ``media_video_max_loss``."""

    # Under 8 frames a second motion breaks into a slideshow and lips no longer match the voice;
    # the pilot's failed calls decoded 1-7 fps, the ones people put up with 11 and more.
    min_fps: float = 8.0
    # The least a VP8 or H.264 encoder needs for a 320x180 picture at about 10 fps; below it the
    # picture stalls on keyframes and their retransmissions take the audio's room.
    min_kbps: float = 100.0
    # Above 15 % loss (before retransmission) a video decoder spends more time waiting for lost
    # packets and keyframes than showing pictures, and the retransmissions add to the congestion.
    max_loss: float = 0.15


# Fixed thresholds of the indicator (not of the fallback): "fair" means visibly degraded.
FAIR_FPS = 15.0  # half a webcam's usual 30 fps: motion visibly jerky, still readable
FAIR_LOSS = 0.03  # from 3 % loss, audio concealment is audible and video needs retransmissions
FAIR_KBPS = 300.0  # the start bitrate of a browser's sender: less is a thin link, video at low resolution
FROZEN_SHARE_FAIR = 0.1  # frozen a tenth of the window: a freeze the person noticed
FROZEN_SHARE_POOR = 0.5  # frozen half the window: the picture is mostly still, whatever the frame rate says
# A participant decoding at least half of the frame rate the node gets from the publisher is not
# the bottleneck: a camera at 10 fps (a dark room, a busy phone) must not be blamed on a downlink.
SOURCE_SHARE = 0.5
SOURCE_SHARE_FAIR = 0.75  # a quarter of the frames lost on the way is a visibly degraded picture
# A trial of video after a fallback must beat the floors by a quarter: a link hovering at the
# floor would otherwise switch video on and off at every trial.
RECOVER_MARGIN = 1.25


@dataclasses.dataclass(frozen=True, slots=True)
class Sample:
    """One direction's figures over the last window; None: not measured."""

    fps: float | None = None  # video frames per second at the receiving end
    source_fps: float | None = None  # what the node receives from the publisher (receive direction)
    frozen_share: float | None = None  # share of the window the picture was frozen (0..1)
    loss: float | None = None  # fraction of packets lost (0..1), the worst of the streams measured
    # The received video's loss before retransmission, apart: it counts only while the picture
    # suffers (see judge). None: not measured, or counted in ``loss``.
    video_loss: float | None = None
    kbps: float | None = None  # bandwidth estimate of the path (REMB, uplink estimate)
    limited: bool = False  # the sender says its encoder is held back by bandwidth

    @property
    def empty(self) -> bool:
        return self.fps is None and self.frozen_share is None and self.loss is None and self.kbps is None \
            and self.video_loss is None


@dataclasses.dataclass(frozen=True, slots=True)
class Verdict:
    level: Level
    reason: Reason | None = None  # why it is not good (None when good or unknown)
    bad: bool = False  # video cannot be sustained now: the fallback's input


UNKNOWN = Verdict(Level.UNKNOWN)


def judge(sample: Sample, floors: Floors, *, strict: bool = False) -> Verdict:
    """The level of one direction; the first reason found, in the order that explains the others
    (a thin link causes loss, loss causes a low frame rate)."""
    if sample.empty:
        return UNKNOWN
    margin = RECOVER_MARGIN if strict else 1.0
    fps_floor = floors.min_fps * margin
    fps_fair = FAIR_FPS
    if sample.source_fps is not None:
        fps_floor = min(fps_floor, sample.source_fps * SOURCE_SHARE)
        fps_fair = min(fps_fair, sample.source_fps * SOURCE_SHARE_FAIR)
    # An estimate counts only when the video suffers: congestion control keeps it within 1.5 times
    # what flows, so a still picture compressed to 50 kbit/s has a "thin" estimate on any link.
    constrained = sample.limited or (sample.fps is not None and sample.fps < fps_fair)
    kbps = sample.kbps if constrained else None
    # The received video's loss before retransmission counts only when the picture shows it: a
    # video whose gaps the node's retransmissions fill keeps its frame rate, and on a path that
    # reorders, the receiver asks again for every packet that is only late, so the count of what
    # arrived as a retransmission (the browser's retransmittedPacketsReceived) reads high: 19-23 %
    # "lost" on a weak 4G link losing 1 % (80 ms, ±15 ms jitter) while the jobseeker decoded
    # 30 fps, and the node stopped his video. The audio's loss (never retransmitted) always counts.
    picture_ok = sample.fps is not None and sample.fps >= fps_fair and (
        sample.frozen_share is None or sample.frozen_share < FROZEN_SHARE_FAIR)
    losses = [x for x in (sample.loss, None if picture_ok else sample.video_loss) if x is not None]
    loss = max(losses) if losses else None
    if kbps is not None and kbps < floors.min_kbps * margin:
        return Verdict(Level.POOR, Reason.LOW_BANDWIDTH, True)
    if loss is not None and loss >= floors.max_loss / margin:
        return Verdict(Level.POOR, Reason.LOSS, True)
    if (sample.fps is not None and sample.fps < fps_floor) or (
            sample.frozen_share is not None and sample.frozen_share >= FROZEN_SHARE_POOR):
        return Verdict(Level.POOR, Reason.LOW_FRAMERATE, True)
    if kbps is not None and kbps < FAIR_KBPS:
        return Verdict(Level.FAIR, Reason.LOW_BANDWIDTH)
    if loss is not None and loss >= FAIR_LOSS:
        return Verdict(Level.FAIR, Reason.LOSS)
    if (sample.fps is not None and sample.fps < fps_fair) or (
            sample.frozen_share is not None and sample.frozen_share >= FROZEN_SHARE_FAIR):
        return Verdict(Level.FAIR, Reason.LOW_FRAMERATE)
    return Verdict(Level.GOOD)
