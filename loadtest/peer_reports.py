"""The ``media_report`` a Python peer sends, built from what it decoded: pure, no sockets, no clock.

    window = ReportWindow(frames, audio, now)           # the counts when reporting starts
    report = window.next(now, frames, audio, sending_video=True)   # every report_every_ms

``frames``: (publisher, kind) -> frames decoded so far, for every section received (audio too,
so each received stream has its entry); ``audio``: publisher -> (packets received, packets lost)
as the receiver's sequence-number counters give them. A report's ``receive`` has one entry per
(publisher, kind) in that order: video with the frames per second decoded since the previous
report (``frozen_ms`` 0: a Python peer does not measure freezes), audio with the share of packets
lost in the window (only when both counts are known and packets were expected). ``send.video`` is
whether the peer sends camera video now (what ``media_fallback`` ``send`` last said).

Shared by the tests' peers (tests/media_peers.py) and the calibration peers
(loadtest/calibrate_peer.py), so both speak to the node as a page does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ReportWindow"]


class ReportWindow:
    def __init__(self, frames: Mapping[tuple[str, str], int], audio: Mapping[str, tuple[int, int]], now: float):
        self._frames = dict(frames)
        self._audio = dict(audio)
        self._at = now

    def next(self, now: float, frames: Mapping[tuple[str, str], int], audio: Mapping[str, tuple[int, int]], *,
             sending_video: bool, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
        """The report for the window since the previous one (``overrides``: publisher -> figures its
        video entry says instead, a test's way of faking a thin downlink)."""
        window = max(1e-3, now - self._at)
        receive: list[dict[str, Any]] = []
        for user, kind in sorted(frames):
            count = frames[(user, kind)]
            entry: dict[str, Any] = {"user": user, "kind": kind}
            if kind == "video":
                # A publisher seen for the first time decoded nothing in this window as far as we know.
                entry.update(fps=round(max(0, count - self._frames.get((user, kind), count)) / window, 2),
                             frozen_ms=0)
                entry.update((overrides or {}).get(user, {}))
            else:
                before, after = self._audio.get(user), audio.get(user)
                if before is not None and after is not None:
                    expected = (after[0] - before[0]) + (after[1] - before[1])
                    if expected > 0:
                        entry["loss"] = round(max(0, after[1] - before[1]) / expected, 4)
            receive.append(entry)
        self._frames, self._audio, self._at = dict(frames), dict(audio), now
        return {"receive": receive, "send": {"video": sending_video}}
