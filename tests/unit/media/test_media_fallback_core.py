"""The fallback to audio and back, without sockets: link verdicts, the state machine, the report
schema and its budget, the monitor's counters."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtserver.errors import RtError
from rtserver.media.fallback import STABLE_S, FallbackTimings, Phase, VideoFallback
from rtserver.media.linkquality import RECOVER_MARGIN, Floors, Level, Reason, Sample, Verdict, judge
from rtserver.media.links import _Counter, _Loss
from rtserver.protocol.media import MediaReport, ReceiveFigures, SendFigures, media_frame
from rtserver.protocol.requests import Limits, parse_request
from rtserver.protocol.session import Session

FLOORS = Floors()
T = FallbackTimings(after_s=4.0, retry_s=10.0, retry_max_s=40.0, hold_s=10.0)
GOOD = Verdict(Level.GOOD)
SLOW = Verdict(Level.POOR, Reason.LOW_FRAMERATE, True)
LOSSY = Verdict(Level.POOR, Reason.LOSS, True)


# -- verdicts ------------------------------------------------------------------------------------
def test_each_floor_makes_video_unsustainable_with_its_reason() -> None:
    assert judge(Sample(fps=24, loss=0.0, kbps=800), FLOORS) == Verdict(Level.GOOD)
    assert judge(Sample(fps=7.9), FLOORS) == Verdict(Level.POOR, Reason.LOW_FRAMERATE, True)
    assert judge(Sample(fps=24, frozen_share=0.5), FLOORS).reason is Reason.LOW_FRAMERATE
    assert judge(Sample(loss=0.15), FLOORS) == Verdict(Level.POOR, Reason.LOSS, True)
    assert judge(Sample(fps=12, kbps=99), FLOORS) == Verdict(Level.POOR, Reason.LOW_BANDWIDTH, True)
    assert judge(Sample(kbps=99, limited=True), FLOORS) == Verdict(Level.POOR, Reason.LOW_BANDWIDTH, True)
    # The thin link explains the loss and the frame rate: it is the reason given.
    assert judge(Sample(fps=2, loss=0.3, kbps=60), FLOORS).reason is Reason.LOW_BANDWIDTH
    assert judge(Sample(), FLOORS) == Verdict(Level.UNKNOWN)


def test_fair_is_degraded_but_carries_video() -> None:
    for sample, reason in ((Sample(fps=12), Reason.LOW_FRAMERATE), (Sample(loss=0.05), Reason.LOSS),
                           (Sample(kbps=200, limited=True), Reason.LOW_BANDWIDTH),
                           (Sample(fps=25, frozen_share=0.2),
                                                                      Reason.LOW_FRAMERATE)):
        assert judge(sample, FLOORS) == Verdict(Level.FAIR, reason), sample


def test_video_loss_counts_only_while_the_picture_suffers() -> None:
    # A weak 4G link that reorders: 20 % of the video "lost" before retransmission (the browser asked
    # again for late packets) while the picture ran at 30 fps and the sound lost 1 %.
    assert judge(Sample(fps=30, frozen_share=0.0, loss=0.01, video_loss=0.2), FLOORS) == GOOD
    # The same loss with a picture that shows it: the loss is the reason.
    assert judge(Sample(fps=12, frozen_share=0.0, loss=0.01, video_loss=0.2), FLOORS) == LOSSY
    assert judge(Sample(fps=30, frozen_share=0.3, loss=0.01, video_loss=0.2), FLOORS) == LOSSY
    # No frame rate measured (no report from the page): the loss cannot be told harmless.
    assert judge(Sample(loss=0.01, video_loss=0.2), FLOORS) == LOSSY
    # The sound's loss counts whatever the picture does.
    assert judge(Sample(fps=30, frozen_share=0.0, loss=0.2, video_loss=0.0), FLOORS) == LOSSY
    assert judge(Sample(fps=30, loss=0.05, video_loss=0.5), FLOORS) == Verdict(Level.FAIR, Reason.LOSS)


def test_a_slow_camera_is_not_blamed_on_the_downlink() -> None:
    # The node itself gets 6 fps from the publisher (a dark room): decoding 5 of them is fine...
    assert not judge(Sample(fps=5, source_fps=6), FLOORS).bad
    # ...decoding 2 of 30 is the downlink's fault.
    assert judge(Sample(fps=2, source_fps=30), FLOORS).bad


def test_a_trial_is_judged_with_a_margin() -> None:
    fps = FLOORS.min_fps * 1.1
    assert not judge(Sample(fps=fps), FLOORS).bad
    assert judge(Sample(fps=fps), FLOORS, strict=True).bad
    assert judge(Sample(loss=FLOORS.max_loss / RECOVER_MARGIN), FLOORS, strict=True).bad
    assert judge(Sample(kbps=FLOORS.min_kbps * 1.2, limited=True), FLOORS, strict=True).bad


def test_a_low_estimate_alone_is_not_a_thin_link() -> None:
    # Congestion control keeps its estimate near what flows: a still picture at 50 kbit/s
    # has an estimate of 85 on any link. Only when the video suffers does it tell the cause.
    assert judge(Sample(fps=30, kbps=85), FLOORS) == Verdict(Level.GOOD)
    assert judge(Sample(kbps=85), FLOORS) == Verdict(Level.GOOD)
    assert judge(Sample(fps=10, kbps=85), FLOORS) == Verdict(Level.POOR, Reason.LOW_BANDWIDTH, True)


figure = st.one_of(st.none(), st.floats(0, 1000, allow_nan=False))


@given(fps=figure, source=figure, loss=st.one_of(st.none(), st.floats(0, 1)), kbps=figure,
       frozen=st.one_of(st.none(), st.floats(0, 1)), limited=st.booleans())
@settings(max_examples=300, deadline=None)
def test_strict_is_never_more_lenient_and_bad_means_poor(fps: float | None, source: float | None,
                                                         loss: float | None, kbps: float | None,
                                                         frozen: float | None, limited: bool) -> None:
    sample = Sample(fps=fps, source_fps=source, loss=loss, kbps=kbps, frozen_share=frozen, limited=limited)
    lenient, strict = judge(sample, FLOORS), judge(sample, FLOORS, strict=True)
    assert lenient.bad <= strict.bad
    assert lenient.bad == (lenient.level is Level.POOR)
    assert (lenient.level is Level.GOOD) == (lenient.reason is None and not sample.empty)


# -- the state machine ---------------------------------------------------------------------------
def run(machine: VideoFallback, verdicts: list[tuple[float, Verdict]], active: bool = True) -> list[tuple[float, bool]]:
    out = []
    for now, verdict in verdicts:
        transition = machine.update(now, verdict, active=active)
        if transition is not None and not transition.trial_held:
            out.append((now, transition.video))
    return out


def ticks(start: float, end: float, verdict: Verdict) -> list[tuple[float, Verdict]]:
    return [(float(t), verdict) for t in range(int(start), int(end))]


def test_video_goes_off_only_after_a_few_bad_seconds() -> None:
    machine = VideoFallback(T)
    # 3 bad seconds, a good one, 3 bad again: never 4 in a row.
    assert run(machine, [*ticks(0, 4, SLOW), (4, GOOD), *ticks(5, 9, SLOW)]) == []
    transition = machine.update(9, SLOW)
    assert transition is not None and (transition.video, transition.reason) == (False, Reason.LOW_FRAMERATE)
    assert machine.phase is Phase.OFF and not machine.video


def test_recovery_is_a_trial_kept_only_if_it_holds_with_back_off() -> None:
    machine = VideoFallback(T)
    assert run(machine, ticks(0, 5, SLOW)) == [(4, False)]
    # Off at 4: trial at 14 (10 s), judged from 18 (4 s to restart); bad -> off, next trial 20 s later.
    assert run(machine, [*ticks(5, 18, GOOD), (18, SLOW)]) == [(14, True), (18, False)]
    assert machine.wait_s == 20 and machine.next_trial == 38
    assert run(machine, [*ticks(19, 42, GOOD), (42, SLOW)]) == [(38, True), (42, False)]
    assert machine.wait_s == 40
    assert run(machine, [*ticks(43, 90, GOOD), (90, SLOW)]) == [(82, True), (90, False)]
    assert machine.wait_s == 40  # retry_max_s
    # A trial that holds keeps video: judged 4 s after it starts, kept after 10 s more.
    trial = machine.next_trial
    assert trial is not None
    held = [machine.update(t, GOOD) for t in range(int(trial), int(trial) + 15)]
    assert [(h.video, h.trial_held) for h in held if h is not None] == [(True, False), (True, True)]
    assert machine.phase is Phase.ON


def test_the_wait_starts_over_once_video_was_stable() -> None:
    machine = VideoFallback(T)
    run(machine, ticks(0, 5, SLOW))
    run(machine, [*ticks(5, 18, GOOD), (18, SLOW)])
    assert machine.wait_s == 20
    run(machine, ticks(19, 53, GOOD))  # trial at 38, held at 52
    assert machine.phase is Phase.ON and machine.wait_s == 20
    run(machine, ticks(53, 53 + STABLE_S + 1, GOOD))
    assert machine.wait_s == T.retry_s


def test_no_trial_while_the_audio_alone_loses_too_much() -> None:
    machine = VideoFallback(T)
    run(machine, ticks(0, 5, LOSSY))
    assert run(machine, ticks(5, 30, LOSSY)) == []
    assert run(machine, [(30, GOOD)]) == [(30, True)]


def test_the_persons_choice_suspends_the_machine() -> None:
    machine = VideoFallback(T)
    # Nothing flows by the person's choice: no fallback, whatever the figures.
    assert run(machine, ticks(0, 20, SLOW), active=False) == []
    assert machine.video
    run(machine, ticks(20, 25, SLOW))
    assert not machine.video
    # Chosen audio only while off: no trial until video is wanted again, then at once.
    assert run(machine, ticks(25, 60, GOOD), active=False) == []
    assert run(machine, [(60, GOOD)]) == [(60, True)]
    # A trial interrupted by the choice starts over: judged 4 s after video is wanted again.
    assert run(machine, [(61, GOOD)], active=False) == []
    assert run(machine, [(62, SLOW), (65, SLOW), (66, SLOW)]) == [(66, False)]


verdict = st.sampled_from([GOOD, SLOW, LOSSY, Verdict(Level.UNKNOWN), Verdict(Level.FAIR, Reason.LOSS)])


@given(steps=st.lists(st.tuples(st.floats(0.1, 5), verdict, st.booleans()), max_size=200))
@settings(max_examples=200, deadline=None)
def test_transitions_alternate_and_respect_the_timings(steps: list[tuple[float, Verdict, bool]]) -> None:
    machine = VideoFallback(T)
    now, video, last_off = 0.0, True, -math.inf
    for dt, v, active in steps:
        now += dt
        transition = machine.update(now, v, active=active)
        if transition is None or transition.trial_held:
            continue
        assert active and transition.video != video  # each event is a change, never while suspended
        video = transition.video
        if video:
            assert now - last_off >= T.retry_s - 1e-9 and transition.reason is Reason.RECOVERED
        else:
            last_off = now
            assert transition.reason in (Reason.LOW_FRAMERATE, Reason.LOSS)
        assert T.retry_s <= machine.wait_s <= T.retry_max_s
    assert machine.video == video


# -- the node's counters -------------------------------------------------------------------------
def test_rates_count_only_while_flowing() -> None:
    frames = _Counter()
    for t in range(5):
        frames.add(t * 0.5, t * 15)
    assert frames.rate(2.0) == pytest.approx(30)
    frames.add(2.5, 60)  # stopped
    assert frames.rate(2.5) is None and frames.flowing_since is None
    frames.add(3.0, 75)
    assert frames.flowing_since == 3.0 and frames.rate(3.0) is None  # too short a window yet
    frames.add(4.0, 105)
    assert frames.rate(4.0) == pytest.approx(30)
    frames.add(4.5, 3)  # a new source: counts start over
    assert frames.flowing_since is None


def test_loss_needs_enough_packets() -> None:
    loss = _Loss()
    loss.add(0, 100, 0)
    loss.add(1, 110, 5)
    assert loss.fraction() is None  # 10 packets
    loss.add(2, 200, 30)
    assert loss.fraction() == pytest.approx(0.3)


# -- the report's schema and budget --------------------------------------------------------------
def test_a_report_parses_and_forwards_unchanged() -> None:
    frame = {"type": "media_report", "room": "R", "id": 7,
             "receive": [{"user": "U", "kind": "video", "fps": 24.0, "frozen_ms": 0, "loss": 0.01, "kbps": 480},
                         {"user": "U", "kind": "audio", "loss": 0.0, "kbps": 32, "codec": {"deep": [1]}}],
             "send": {"video": True, "kbps": 520, "limited": "bandwidth"}, "extra": "dropped"}
    report = parse_request(frame, Limits())
    assert report == MediaReport(7, "R", (ReceiveFigures("U", "video", 24.0, 0, 0.01, 480),
                                          ReceiveFigures("U", "audio", None, None, 0.0, 32)),
                                 SendFigures(True, 520, "bandwidth"))
    assert parse_request(media_frame(report), Limits()) == report  # what the hosting node reads
    assert parse_request({"type": "media_report", "room": "R"}, Limits()) == MediaReport(None, "R")


@pytest.mark.parametrize(("fields", "named"), [
    ({"receive": [{"user": "U", "kind": "video", "fps": math.nan}]}, "'receive[0].fps'"),
    ({"receive": [{"user": "U", "kind": "video", "loss": 1.5}]}, "'receive[0].loss'"),
    ({"receive": [{"user": "U", "kind": "video", "kbps": True}]}, "'receive[0].kbps'"),
    ({"receive": [{"user": "U\n", "kind": "video"}]}, "'receive[0].user'"),
    ({"receive": [{"user": "U", "kind": "audio"}] * 17}, "'receive'"),
    ({"receive": [None]}, "'receive[0]'"),
    ({"send": []}, "'send'"),
    ({"send": {"kbps": 1e300}}, "'send.kbps'"),
    ({}, None),
])
def test_a_malformed_report_names_its_field(fields: dict[str, object], named: str | None) -> None:
    frame = {"type": "media_report", "room": "R", **fields}
    if named is None:
        parse_request(frame, Limits())
        return
    with pytest.raises(RtError) as refused:
        parse_request(frame, Limits())
    assert refused.value.code == "invalid_message" and named in refused.value.message


def test_reports_draw_from_their_own_budget() -> None:
    session = Session(rate_per_s=1, burst=1, max_violations=10, now=0.0)
    session.authenticated()
    report = MediaReport(None, "R")
    session.admit(report, 0.0)
    session.admit(report, 0.0)
    with pytest.raises(RtError) as limited:
        session.admit(report, 0.0)
    assert limited.value.code == "rate_limited"
    session.admit(report, 0.5)  # one every 500 ms
    session.admit(parse_request({"type": "rooms"}, Limits()), 0.5)  # the requests' budget is untouched
