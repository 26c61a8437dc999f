"""The calibration matrix's pure rules (loadtest/calibrate_outcome.py, calibrate_peer's summaries):
predicted mode with and without the result's ``mode``, the outcome rule at its thresholds, and the
confusion matrix's rates."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from netns import REPO

if str(REPO) not in sys.path:  # loadtest/ is a top-level package of the repository, not an installed one
    sys.path.insert(0, str(REPO))
from loadtest.calibrate import CONDITIONS, select
from loadtest.calibrate_outcome import classify, confusion, predicted_mode, rates
from loadtest.calibrate_peer import audio_loss, summarise_video


@pytest.mark.parametrize(("result", "mode"), [
    ({"verdict": "ready", "video": "480p", "mode": "audio"}, "audio"),  # the check's own mode wins
    ({"verdict": "ready", "video": "240p"}, "video"),
    ({"verdict": "ready-with-warnings", "video": "audio-only"}, "audio"),
    ({"verdict": "not-ready", "video": "audio-only"}, "audio"),
    ({"verdict": "not-ready", "video": "240p"}, "audio"),
    ({"verdict": "not-ready", "video": "none"}, "none"),
    (None, "none"),
])
def test_predicted_mode(result: dict[str, Any] | None, mode: str) -> None:
    assert predicted_mode(result) == mode


def direction(fps: float, gap_ms: int, loss: float) -> dict[str, Any]:
    return {"video": {"median_fps": fps, "max_gap_ms": gap_ms}, "audio": {"loss": loss}}


def test_outcome_rule_at_its_thresholds() -> None:
    good = direction(30, 100, 0.0)
    assert classify([good, direction(10, 1999, 0.10)]) == "video"
    assert classify([good, direction(9.5, 100, 0.0)]) == "audio"
    assert classify([good, direction(30, 2000, 0.0)]) == "audio"
    assert classify([good, direction(30, 100, 0.11)]) == "failed"
    assert classify([good, None]) == "failed"
    assert classify([good, {"audio": {"loss": 0.0}}]) == "audio"  # no video at all


def test_confusion_and_rates() -> None:
    records = [{"name": "a", "predicted": "video", "outcome": "video"},
               {"name": "b", "predicted": "none", "outcome": "video"},  # false alarm
               {"name": "c", "predicted": "video", "outcome": "failed"},  # missed failure (and optimistic)
               {"name": "d", "predicted": "audio", "outcome": "failed"}]  # optimistic only
    table = confusion(records)
    assert table["video"] == {"failed": 1, "audio": 0, "video": 1} and table["none"]["video"] == 1
    assert rates(records) == {"conditions": 4, "false_alarms": ["b"], "missed_failures": ["c"],
                              "optimistic": ["c", "d"]}


def test_video_summary_counts_freezes_at_the_window_edges() -> None:
    assert summarise_video([10.5, 11.5], 10.0, 13.0) == {
        "frames": 2, "fps": [1, 1, 0], "median_fps": 1, "min_fps": 0, "max_gap_ms": 1500}
    assert summarise_video([], 0.0, 2.0)["max_gap_ms"] == 2000


def test_audio_loss_counts_a_stalled_stream() -> None:
    assert audio_loss(490, 10, 10.0)["loss"] == 0.02
    assert audio_loss(100, 0, 10.0)["loss"] == 0.8  # 100 of 500 packets: 80 % missing, no gap in sequence
    assert audio_loss(0, 0, 10.0)["loss"] == 1.0


def test_matrix_has_the_conditions_it_promises() -> None:
    assert len([c for c in CONDITIONS if not c.browser]) >= 20
    assert {c.name for c in select("cap*-up")} == {"cap1000-up", "cap600-up", "cap300-up", "cap150-up", "cap80-up"}
    with pytest.raises(ValueError, match="nope"):
        select("clean,nope")
