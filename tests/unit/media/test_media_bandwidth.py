"""The bitrate the node asks a publisher for (rtserver/media/bandwidth.py): pure, no sockets."""

from __future__ import annotations

import math

import pytest

from rtserver.media.bandwidth import RESUME_GRACE_S, BandwidthPolicy, EstimateTrend

POLICY = BandwidthPolicy()


def test_the_video_leaves_room_for_the_audio_and_the_overhead() -> None:
    # 1 Mbit/s link, one audio stream: 1000 - 48 - 10 % of 1000 = 852 kbit/s of video.
    assert POLICY.video_share(1_000_000, 1) == 852_000
    # Two audio streams received (a three-person interview): one more share kept.
    assert POLICY.video_share(1_000_000, 2) == 804_000
    # No audio received: only the overhead.
    assert POLICY.video_share(1_000_000, 0) == 900_000


def test_a_thin_link_keeps_a_quarter_of_its_estimate_and_never_goes_under_the_floor() -> None:
    # 250 kbit/s: 48 + 25 = 73 kbit/s kept, under the 25 % bound (62.5): the bound applies.
    assert POLICY.video_share(250_000, 1) == 187_500
    assert POLICY.video_share(20_000, 1) == POLICY.floor_bps
    assert POLICY.video_share(0, 3) == POLICY.floor_bps
    assert POLICY.video_share(-5, -1) == POLICY.floor_bps  # nonsense in: the floor, not a crash


def test_a_growing_estimate_is_never_shrunk_by_the_reserve() -> None:
    # An estimator that has not found the link's limit reports at most 1.5 x what it receives
    # + 10 kbit/s; the share asked for must exceed what flows by more than the estimators' own
    # 8 %/s growth, at every rate, or the video would shrink at every report on an empty link.
    for flowing in range(POLICY.floor_bps, 3_000_000, 10_000):
        reported = int(1.5 * flowing) + 10_000
        assert POLICY.video_share(reported, 1) > 1.08 * flowing, flowing


def test_carries_video_needs_the_minimum_after_the_full_reserve() -> None:
    # 48 kbit/s of audio + 10 %: (e - 48) * 0.9 >= 100 -> e >= 164.4 kbit/s.
    assert not POLICY.carries_video(164_000, 1)
    assert POLICY.carries_video(165_000, 1)
    assert not POLICY.carries_video(200_000, 2)  # two audio streams: 218.9 kbit/s needed


def test_an_estimate_that_never_fell_does_not_hold_the_publisher() -> None:
    # A subscriber's estimator starts at the rate it saw during the encoder's warm-up: not a limit.
    assert POLICY.publisher_target([(180_000, 1, False)], None, 0.0) == POLICY.max_bps
    # Once it fell (congestion), it is the link's measure: its share rules.
    assert POLICY.publisher_target([(180_000, 1, True)], None, 0.0) == 135_000
    assert POLICY.publisher_target([(1_000_000, 1, True)], None, 0.0) == 852_000
    assert POLICY.publisher_target([], None, 0.0) is None  # no estimate yet: no REMB


def test_the_weakest_subscriber_that_fell_sets_the_target() -> None:
    subscribers = [(2_000_000, 1, True), (500_000, 2, True), (300_000, 1, False)]
    # 500 kbit/s with two audio streams: 96 + 50 kbit/s to keep, bounded to 25 % (125 kbit/s).
    assert POLICY.publisher_target(subscribers, None, 0.0) == 375_000


def test_the_uplink_estimate_caps_only_for_a_while_after_it_fell() -> None:
    never = -math.inf
    assert POLICY.publisher_target([(2_000_000, 1, True)], (400_000, never), 100.0) == 1_752_000
    # It fell at t=95: for uplink_hold_s it caps the publisher (its own audio kept).
    assert POLICY.publisher_target([(2_000_000, 1, True)], (400_000, 95.0), 100.0) == 312_000
    assert POLICY.publisher_target([], (400_000, 95.0), 100.0) == 312_000
    later = 95.0 + POLICY.uplink_hold_s + 0.1
    assert POLICY.publisher_target([(2_000_000, 1, True)], (400_000, 95.0), later) == 1_752_000
    assert POLICY.publisher_target([], (400_000, never), 100.0) == POLICY.max_bps


@pytest.mark.parametrize(("values", "congested"), [
    ([180_000, 190_000, 205_000, 221_000], False),  # an estimator's ramp: 8 %/s
    ([300_000, 290_000], False),  # within 5 %: noise, not a fall
    ([300_000, 320_000, 272_000], True),  # overuse: 0.85 x
])
def test_estimate_trend_sees_a_fall(values: list[int], congested: bool) -> None:
    trend = EstimateTrend()
    for t, value in enumerate(values):
        trend.update(value, float(t))
    assert trend.congested is congested
    if congested:
        assert trend.fell_at == len(values) - 1


def test_an_estimate_far_under_what_was_sent_is_congestion() -> None:
    """A queue that stays full shows no growing delay: the estimator reads the link's rate and never
    falls, while the node sends twice that. Under 0.7 times the sent rate is congestion too."""
    thin = EstimateTrend()
    sent = 0
    for t in range(4):  # 500 kbit/s sent (62 500 bytes/s), the link delivers 250: the estimate reads 240-260
        sent += 62_500
        thin.update(240_000 + 5_000 * t, float(t), sent)
    assert thin.congested and thin.fell_at == 3.0

    clean = EstimateTrend()
    sent = 0
    for t in range(6):  # an estimator at or above what arrives, the sender ramping 8 %/s; a keyframe at t=3
        sent += int(62_500 * 1.08 ** t) + (40_000 if t == 3 else 0)
        clean.update(int(500_000 * 1.08 ** t), float(t), sent)
    assert not clean.congested
    assert clean.sent_bps() is not None

    warming = EstimateTrend()  # under half a window of counts: no sent rate to judge against
    warming.update(100_000, 0.0, 10_000)
    warming.update(100_000, 0.5, 60_000)
    assert warming.sent_bps() is None and not warming.congested


def test_an_estimate_climbing_back_after_video_resumed_is_not_congestion_within_the_grace() -> None:
    """A thin downlink restored: video resumes at the publisher's 1 Mbit/s while the subscriber's
    estimator climbs back 8 %/s from the 80 kbit/s it fell to. Not congestion for RESUME_GRACE_S;
    a real fall still is, and so is an estimate still far under what is sent after the grace."""
    resumed_at = 100.0
    trend = EstimateTrend.resumed(resumed_at)
    assert trend.below_sent_from == resumed_at + RESUME_GRACE_S
    sent = 0
    t = 0
    while t < RESUME_GRACE_S:
        sent += 125_000
        trend.update(int(80_000 * 1.08 ** t), resumed_at + t, sent)
        t += 1
    assert trend.sent_bps() is not None and not trend.congested
    sent += 125_000
    trend.update(int(80_000 * 1.08 ** t), resumed_at + t, sent)  # the grace is over: 0.37 x what was sent
    assert trend.congested and trend.fell_at == resumed_at + t

    falling = EstimateTrend.resumed(resumed_at)
    falling.update(300_000, resumed_at + 1, 62_500)
    falling.update(250_000, resumed_at + 2, 125_000)  # overuse: counts within the grace
    assert falling.congested and falling.fell_at == resumed_at + 2
