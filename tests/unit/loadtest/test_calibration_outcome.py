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
from loadtest.calibrate import CONDITIONS, compare_markdown, select
from loadtest.calibrate_outcome import classify, confusion, fallback_summary, predicted_mode, rates
from loadtest.calibrate_peer import audio_loss, summarise_video
from loadtest.peer_reports import ReportWindow


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


def test_an_interview_that_fell_back_to_audio_and_kept_it_is_audio() -> None:
    advisor_side = direction(30, 40, 0.0)
    # The node stopped the video to the jobseeker 1.5 s into the window: a few frames, then none.
    fell_back = {"video": {"median_fps": 0, "max_gap_ms": 12_500}, "audio": {"loss": 0.03}}
    assert classify([fell_back, advisor_side]) == "audio"
    never = {"audio": {"loss": 0.02}}  # stopped before the window: not a single frame in it
    assert classify([never, advisor_side]) == "audio"
    assert classify([{**fell_back, "audio": {"loss": 0.13}}, advisor_side]) == "failed"  # audio lost too


def test_fallback_summary_tells_each_direction_and_its_recovery() -> None:
    events = [{"t": 17.5, "user": "js", "direction": "receive", "video": True, "reason": "recovered"},
              {"t": 7.5, "user": "js", "direction": "receive", "video": False, "reason": "loss"},
              {"t": 9.0, "user": "js", "direction": "send", "video": False, "reason": "low_bandwidth"},
              {"t": 21.0, "user": "js", "direction": "receive", "video": False, "reason": "low_framerate"}]
    summary = fallback_summary(events)
    assert [e["t"] for e in summary["events"]] == [7.5, 9.0, 17.5, 21.0]
    assert summary["directions"] == {
        "js receive": {"off": 2, "resumed": 1, "first_off_s": 7.5, "video_at_end": False},
        "js send": {"off": 1, "resumed": 0, "first_off_s": 9.0, "video_at_end": False}}
    assert fallback_summary([]) == {"events": [], "directions": {}}


def test_before_after_table_names_the_fallbacks() -> None:
    def record(outcome: str, events: list[dict[str, Any]]) -> dict[str, Any]:
        return {"name": "cap300-down", "outcome": outcome, "fallbacks": fallback_summary(events),
                "received": {"by_jobseeker": direction(0, 14_000, 0.03), "by_advisor": direction(30, 40, 0.0)}}

    table = compare_markdown([record("failed", [])], [record("audio", [
        {"t": 7.5, "user": "js", "direction": "receive", "video": False, "reason": "loss"}])])
    assert "| cap300-down | before | failed | 0 fps, gap 14.0 s | 30 fps, gap 0.0 s | 3%/0% | none |" in table
    assert ("| | after | audio | 0 fps, gap 14.0 s | 30 fps, gap 0.0 s | 3%/0% "
            "| jobseeker receive off 8 s (loss) |") in table


def test_report_window_speaks_as_a_page() -> None:
    window = ReportWindow({("adv", "video"): 100, ("adv", "audio"): 500}, {"adv": (500, 0)}, now=10.0)
    report = window.next(12.0, {("adv", "video"): 110, ("adv", "audio"): 600, ("bob", "video"): 7},
                         {"adv": (590, 10)}, sending_video=False)
    assert report == {"receive": [{"user": "adv", "kind": "audio", "loss": 0.1},
                                  {"user": "adv", "kind": "video", "fps": 5.0, "frozen_ms": 0},
                                  {"user": "bob", "kind": "video", "fps": 0.0, "frozen_ms": 0}],  # new: no rate yet
                      "send": {"video": False}}
    later = window.next(14.0, {("adv", "video"): 170}, {}, sending_video=True,
                        overrides={"adv": {"fps": 2.0, "frozen_ms": 300}})
    assert later["receive"] == [{"user": "adv", "kind": "video", "fps": 2.0, "frozen_ms": 300}]
