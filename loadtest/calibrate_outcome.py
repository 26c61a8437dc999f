"""Pure part of the calibration matrix: the predicted mode of a pre-call result, the outcome of an
interview from what both participants received, and the confusion matrix with its two rates.

Outcome rule (each direction is what one participant received from the other, measured over the
window after the warm-up):
- a direction **holds video** when its median frames decoded per second is at least
  ``VIDEO_MIN_MEDIAN_FPS`` (10: below it motion is jerky enough that people call it frozen) and no
  wait between two decoded frames reached ``VIDEO_MAX_FREEZE_MS`` (2 s: a freeze anyone notices,
  and longer than one recovering keyframe round trip on any link of the matrix);
- a direction **holds audio** when at most ``AUDIO_MAX_LOSS`` (10 %) of the audio packets of the
  window were lost, as the receiver counts them by sequence number, a stream delivering under half
  of its 50 packets a second counting the missing ones too (Opus' concealment hides a few percent;
  from about 10 % speech breaks up);
- ``video``: both directions hold video and audio; ``audio``: both hold audio (video failed in at
  least one); ``failed``: audio failed in at least one direction (including a call that never connected).
  An interview whose node fell back to audio in some direction (``media_fallback``) and kept its
  audio is ``audio``: that direction's video stopped (no frame, or too few, in the window), its audio
  is judged as any other. The fallbacks themselves are recorded apart (``fallback_summary``).

Predicted mode: the result's ``mode`` (``video``, ``audio``, ``none``) when it has one; otherwise
(results made before the check reported a mode) a ``not-ready`` verdict is ``audio`` if its
``video`` field still names something the link carries, else ``none``, and any other verdict is
``video`` when ``video`` is a tier (``720p``, ``480p``, ``240p``), else ``audio``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["AUDIO_MAX_LOSS", "MODES", "OUTCOMES", "VIDEO_MAX_FREEZE_MS", "VIDEO_MIN_MEDIAN_FPS", "VIDEO_TIERS",
           "classify", "confusion", "direction_holds", "fallback_summary", "predicted_mode", "rates"]

VIDEO_MIN_MEDIAN_FPS = 10.0
VIDEO_MAX_FREEZE_MS = 2000
AUDIO_MAX_LOSS = 0.10
VIDEO_TIERS = ("720p", "480p", "240p")
MODES = ("none", "audio", "video")  # worst to best
OUTCOMES = ("failed", "audio", "video")  # worst to best: same rank as MODES


def predicted_mode(result: dict[str, Any] | None) -> str:
    """``video``, ``audio`` or ``none`` (a check that gave no result predicts nothing: ``none``)."""
    if not result:
        return "none"
    mode = result.get("mode")
    if mode in MODES:
        return str(mode)
    video = result.get("video")
    if result.get("verdict") == "not-ready":
        return "audio" if video in (*VIDEO_TIERS, "audio-only") else "none"
    return "video" if video in VIDEO_TIERS else "audio"


def direction_holds(received: dict[str, Any] | None) -> tuple[bool, bool]:
    """(video held, audio held) for what one participant received from the other."""
    if not received:
        return False, False
    video, audio = received.get("video"), received.get("audio")
    audio_ok = audio is not None and audio["loss"] <= AUDIO_MAX_LOSS
    video_ok = (video is not None and video["median_fps"] >= VIDEO_MIN_MEDIAN_FPS
                and video["max_gap_ms"] < VIDEO_MAX_FREEZE_MS)
    return video_ok, audio_ok


def classify(directions: Iterable[dict[str, Any] | None]) -> str:
    """The interview's outcome from each direction's figures (``direction_holds``'s input)."""
    held = [direction_holds(d) for d in directions]
    if not held or not all(audio for _, audio in held):
        return "failed"
    return "video" if all(video for video, _ in held) else "audio"


def confusion(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """predicted mode -> outcome -> number of conditions."""
    table = {mode: dict.fromkeys(OUTCOMES, 0) for mode in MODES}
    for record in records:
        table[record["predicted"]][record["outcome"]] += 1
    return table


def rates(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """False alarms (the check predicts a worse mode than the call achieved), missed failures (it
    predicts video and the call could not hold audio), optimistic predictions (better than achieved)."""
    records = list(records)
    false_alarms = [r["name"] for r in records if MODES.index(r["predicted"]) < OUTCOMES.index(r["outcome"])]
    missed = [r["name"] for r in records if r["predicted"] == "video" and r["outcome"] == "failed"]
    optimistic = [r["name"] for r in records if MODES.index(r["predicted"]) > OUTCOMES.index(r["outcome"])]
    return {"conditions": len(records), "false_alarms": false_alarms, "missed_failures": missed,
            "optimistic": optimistic}


def fallback_summary(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The ``media_fallback`` events of one interview as a participant saw them (each ``{t, user,
    direction, video, reason}``, ``t`` in seconds from the call's start) -> the events in time order
    and, per ``"user direction"`` that lost video: how many times it went off, how many trials
    resumed it, when it first went off and whether video flowed again at the end."""
    ordered = sorted(events, key=lambda e: e["t"])
    per: dict[str, dict[str, Any]] = {}
    for event in ordered:
        key = f"{event['user']} {event['direction']}"
        if not event["video"]:
            entry = per.setdefault(key, {"off": 0, "resumed": 0, "first_off_s": event["t"], "video_at_end": False})
            entry["off"] += 1
            entry["video_at_end"] = False
        elif key in per:
            per[key]["resumed"] += 1
            per[key]["video_at_end"] = True
    return {"events": ordered, "directions": per}
