"""What a subscriber's NACKs may cost (rtserver/media/retransmit.py): the budget, without sockets."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rtserver.media.retransmit import RetransmitBudget, RetransmitPolicy


def forwarding(budget: RetransmitBudget, *, kbps: int, seconds: float, start: float = 0.0,
               size: int = 1000) -> float:
    """The section forwards ``kbps`` in ``size``-byte packets for ``seconds``; returns the end time."""
    every = size * 8 / (kbps * 1000)
    t = start
    while t < start + seconds:
        budget.sent(t, size)
        t += every
    return t


def test_a_packet_is_resent_once_a_round_trip() -> None:
    budget = RetransmitBudget()
    now = forwarding(budget, kbps=1000, seconds=1.0)
    assert budget.allow(7, 1000, now, rtt_s=0.05)
    assert not budget.allow(7, 1000, now + 0.049, rtt_s=0.05)  # asked again before it could arrive
    assert budget.allow(7, 1000, now + 0.051, rtt_s=0.05)
    assert (budget.resent, budget.refused_repeat, budget.refused_rate) == (2, 1, 0)


def test_without_a_round_trip_the_default_is_used_and_a_loopback_is_not_a_free_pass() -> None:
    budget = RetransmitBudget()
    now = forwarding(budget, kbps=1000, seconds=1.0)
    assert budget.allow(1, 1000, now, rtt_s=None)
    assert not budget.allow(1, 1000, now + 0.09, rtt_s=None)  # default 100 ms
    assert budget.allow(1, 1000, now + 0.1, rtt_s=None)
    assert not budget.allow(1, 1000, now + 0.1 + 0.015, rtt_s=0.001)  # 1 ms counts as 20 ms
    assert budget.allow(1, 1000, now + 0.1 + 0.02, rtt_s=0.001)


def test_resending_stays_within_a_quarter_of_what_the_section_forwards() -> None:
    # 40 kbit/s of video (a thin link's publisher): 5,000 bytes a second, so 1,250 may be resent.
    budget = RetransmitBudget()
    now = forwarding(budget, kbps=40, seconds=2.0)
    allowed = [budget.allow(seq, 500, now, rtt_s=0.05) for seq in range(100)]
    assert sum(allowed) == 2 and budget.refused_rate == 98
    # The window moves on: a second later the section has forwarded another second, and may resend again.
    now = forwarding(budget, kbps=40, seconds=1.0, start=now)
    assert budget.allow(1000, 500, now, rtt_s=0.05)


def test_a_section_that_forwards_nothing_resends_nothing() -> None:
    # The node paused video to a thin downlink: the NACKs for what was lost before keep coming.
    budget = RetransmitBudget()
    end = forwarding(budget, kbps=1000, seconds=1.0)
    assert budget.allow(1, 1000, end, rtt_s=0.05)
    assert not budget.allow(2, 1000, end + 1.2, rtt_s=0.05)
    assert budget.refused_rate == 1


def test_the_table_of_resent_packets_stays_bounded() -> None:
    budget = RetransmitBudget(RetransmitPolicy(share=1.0))
    t = 0.0
    for seq in range(5000):
        budget.sent(t, 1000)
        assert budget.allow(seq, 10, t, rtt_s=0.05)
        t += 0.01
    assert len(budget._last_resent) <= 512


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 0.05), st.integers(0, 30), st.integers(200, 1200),
                          st.booleans()), min_size=1, max_size=400),
       st.sampled_from([None, 0.001, 0.05, 0.3]))
def test_over_any_window_resent_bytes_stay_within_the_share(
        steps: list[tuple[float, int, int, bool]], rtt: float | None) -> None:
    """Whatever the forwarding and the NACKs: resent bytes over any window are at most the share of
    the bytes forwarded over that window (with its bucket), and no packet goes twice within the round trip."""
    policy = RetransmitPolicy()
    budget = RetransmitBudget(policy)
    t = 0.0
    forwarded: list[tuple[float, int]] = []
    resent: list[tuple[float, int, int]] = []
    for gap, seq, size, forward in steps:
        t += gap
        if forward:
            budget.sent(t, size)
            forwarded.append((t, size))
        elif budget.allow(seq, size, t, rtt):
            resent.append((t, seq, size))
    floor = policy.min_rtt_s if rtt is not None else policy.default_rtt_s
    least = max(floor, rtt or 0.0)
    for at, seq, _size in resent:
        window = [s for f, s in forwarded if at - policy.window_s - RetransmitBudget.BUCKET_S < f <= at]
        in_window = sum(s for r, _, s in resent if at - policy.window_s < r <= at)
        assert in_window <= policy.share * sum(window), (at, in_window, sum(window))
        again = [r for r, s, _ in resent if s == seq and at < r < at + least]
        assert not again, (seq, at, again)
