"""The Python peers' loss-based sender rate control (loadtest/send_rate.py), on made-up reports:
its start, growth, hold, cut, floor, the receiver's limit and the reports it ignores."""

from __future__ import annotations

import sys

import pytest
from netns import REPO

if str(REPO) not in sys.path:  # loadtest/ is a top-level package of the repository, not an installed one
    sys.path.insert(0, str(REPO))
from loadtest.send_rate import LossRateControl, RateLimits


def run(control: LossRateControl, loss: float, seconds: int, start: float = 0.0, packets: int = 100) -> float:
    """One report a second with ``loss`` of ``packets`` lost, the rules applied after each."""
    for i in range(seconds):
        now = start + i
        control.on_report(packets, round(packets * loss), now)
        control.update(now)
    return start + seconds


def test_starts_at_300_kbits_and_holds_until_a_loss_rate_is_known() -> None:
    control = LossRateControl()
    assert control.target_bps == 300_000
    assert control.update(5.0) == 300_000  # no report yet
    control.on_report(10, 0, 5.0)  # fewer than 20 packets: no rate yet
    assert control.update(6.0) == 300_000 and control.loss is None


def test_grows_8_percent_a_second_under_2_percent_loss() -> None:
    control = LossRateControl()
    run(control, 0.01, 6)
    # Six increases of 8 % + 1 kbit/s each, from 300 kbit/s.
    expected = 300_000
    for _ in range(6):
        expected = int(expected * 1.08) + 1000
    assert control.target_bps == expected
    assert 480_000 < control.target_bps < 490_000


def test_grows_at_most_once_a_second() -> None:
    control = LossRateControl()
    for i in range(10):  # ten clean reports within one second
        control.on_report(50, 0, i / 10)
        control.update(i / 10)
    assert control.target_bps == int(300_000 * 1.08) + 1000


def test_holds_between_2_and_10_percent_loss() -> None:
    control = LossRateControl()
    run(control, 0.05, 10)
    assert control.target_bps == 300_000
    run(control, 0.10, 10, start=10)  # 10 % itself holds: the cut is above it
    assert control.target_bps == 300_000


def test_cuts_by_half_the_loss_above_10_percent_once_per_report() -> None:
    control = LossRateControl()
    control.on_report(100, 20, 0.0)
    assert control.update(0.0) == 270_000  # 300 * (1 - 0.5 * 0.2)
    assert control.update(0.35) == 270_000  # the same report: no second cut
    control.on_report(100, 20, 0.4)
    assert control.update(0.4, rtt_s=0.2) == 270_000  # a new report, but within 300 ms + a round trip
    assert control.update(0.5, rtt_s=0.2) == 243_000


def test_never_under_the_floor() -> None:
    control = LossRateControl()
    run(control, 0.5, 30)
    assert control.target_bps == 50_000
    control.on_remb(20_000)  # a receiver asking for less still gets the floor
    assert control.update(31.0) == 50_000


def test_never_above_the_receivers_limit_and_grows_from_it() -> None:
    control = LossRateControl()
    control.on_remb(320_000)
    end = run(control, 0.0, 10)
    assert control.target_bps == 320_000
    control.on_remb(5_000_000)  # the limit lifted: growth resumes from where it held, 8 % a second
    control.on_report(100, 0, end)
    assert control.update(end) == int(320_000 * 1.08) + 1000


def test_a_stale_loss_rate_moves_nothing() -> None:
    control = LossRateControl()
    end = run(control, 0.0, 3)
    held = control.target_bps
    assert control.update(end + 10) == held  # no report for 10 s (a paused camera)


@pytest.mark.parametrize(("expected", "lost"), [(-5, 0), (30, -3), (30, 40)])
def test_odd_counts_are_bounded(expected: int, lost: int) -> None:
    control = LossRateControl(RateLimits(min_packets=1))
    control.on_report(expected, lost, 0.0)
    assert control.loss is None or 0.0 <= control.loss <= 1.0
