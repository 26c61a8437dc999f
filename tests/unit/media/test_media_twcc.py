"""Transport-wide congestion control feedback (rtserver/media/twcc.py): bytes on the wire, no sockets."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rtserver.media.twcc import FeedbackRecorder, parse_feedback


def reported(packets: list[bytes]) -> dict[int, int | None]:
    out: dict[int, int | None] = {}
    for data in packets:
        for seq, arrival in parse_feedback(data).arrivals.items():
            if arrival is not None or seq not in out:
                out[seq] = arrival
    return out


def test_a_feedback_packet_is_laid_out_as_the_draft_says() -> None:
    # Worked by hand from draft-holmer-rmcat-transport-wide-cc-extensions-01, 3.1: reference time
    # 2 (x 64 ms), deltas of 0 and 4 ticks (250 us) as one byte, 12 lost, 13's 284 ticks as two
    # bytes; one two-bit status vector chunk: 1 1 0 2 -> 0b11_01_01_00_10_000000.
    recorder = FeedbackRecorder()
    for seq, arrival_us in ((10, 128_000), (11, 129_000), (13, 200_000)):
        recorder.record(seq, arrival_us)
    (packet,) = recorder.build(sender_ssrc=0x01020304, media_ssrc=0x0A0B0C0D)
    assert packet.hex() == ("8fcd0006" "01020304" "0a0b0c0d"  # V=2 FMT=15 PT=205, 7 words; SSRCs
                            "000a" "0004" "00000200"  # base 10, 4 statuses, reference 2, feedback 0
                            "d480" "00" "04" "011c" "0000")  # chunk, deltas, zero padding


def test_runs_of_alike_statuses_take_one_run_length_chunk() -> None:
    recorder = FeedbackRecorder()
    for seq in range(100, 150):
        recorder.record(seq, 1_000_000 + seq * 1000)  # 50 received, 4 ticks apart
    (packet,) = recorder.build(1, 2)
    assert packet[20:22] == bytes.fromhex("2032")  # T=0, S=01 (small delta), run of 50
    feedback = parse_feedback(packet)
    assert feedback.base_seq == 100 and len(feedback.arrivals) == 50
    assert all(arrival is not None for arrival in feedback.arrivals.values())


def test_losses_before_the_first_arrival_are_reported() -> None:
    recorder = FeedbackRecorder()
    recorder.record(1, 0)
    recorder.build(1, 2)
    recorder.record(5, 50_000)  # 2, 3 and 4 lost
    feedback = parse_feedback(recorder.build(1, 2)[0])
    assert feedback.base_seq == 2
    assert [feedback.arrivals[s] is None for s in (2, 3, 4, 5)] == [True, True, True, False]


def test_nothing_new_sends_nothing_and_the_count_goes_on() -> None:
    recorder = FeedbackRecorder()
    assert recorder.build(1, 2) == []
    recorder.record(7, 10_000)
    first = parse_feedback(recorder.build(1, 2)[0])
    assert recorder.build(1, 2) == [] and not recorder.pending
    recorder.record(8, 20_000)
    assert recorder.pending
    second = parse_feedback(recorder.build(1, 2)[0])
    assert (first.count, second.count) == (0, 1) and second.base_seq == 8


def test_sequence_numbers_wrap() -> None:
    recorder = FeedbackRecorder()
    for k, seq in enumerate((65534, 65535, 0, 1)):
        recorder.record(seq, 5_000_000 + k * 2000)
    feedback = parse_feedback(recorder.build(1, 2)[0])
    assert feedback.base_seq == 65534
    assert [feedback.arrivals[s] is not None for s in (65534, 65535, 0, 1)] == [True] * 4


def test_a_straggler_reported_lost_is_reported_again_received() -> None:
    recorder = FeedbackRecorder()
    for seq in (1, 2, 4):
        recorder.record(seq, seq * 1000)
    assert reported(recorder.build(1, 2))[3] is None
    recorder.record(3, 9000)  # arrives late, after its feedback
    again = reported(recorder.build(1, 2))
    assert again[3] == 9000


def test_packets_more_than_eight_seconds_apart_go_in_two_feedbacks() -> None:
    recorder = FeedbackRecorder()
    recorder.record(1, 0)
    recorder.record(2, 9_000_000)  # a delta of 36,000 ticks does not fit in 16 signed bits
    packets = recorder.build(1, 2)
    assert len(packets) == 2
    assert reported(packets) == {1: 0, 2: 9_000_000}


def test_a_long_feedback_is_split_and_stays_under_the_mtu() -> None:
    recorder = FeedbackRecorder()
    for seq in range(2000):
        if seq % 3:
            recorder.record(seq, seq * 700)
    packets = recorder.build(1, 2)
    assert len(packets) > 1 and max(len(p) for p in packets) < 1200
    got = reported(packets)
    assert all(got[s] == (s * 700) // 250 * 250 for s in range(2000) if s % 3)
    assert all(got[s] is None for s in range(1, 2000) if not s % 3)


arrivals = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 2_000_000)), min_size=1, max_size=120)


@settings(max_examples=200, deadline=None)
@given(arrivals, st.integers(0, 65535), st.lists(st.integers(1, 60), max_size=10))
def test_every_arrival_is_reported_once_to_250_us(steps: list[tuple[int, int]], first_seq: int,
                                                  flush_after: list[int]) -> None:
    """Whatever the order, gaps and jitter: every packet that arrived is reported received with
    its arrival to the tick, every gap within a feedback as lost, and nothing else."""
    recorder = FeedbackRecorder()
    seq, clock = first_seq, 0
    seen: dict[int, int] = {}
    packets: list[bytes] = []
    flushes = set(flush_after)
    for k, (gap, wait) in enumerate(steps):
        seq = (seq + gap - 3) & 0xFFFF  # a step back now and then: reordering and duplicates
        clock += wait
        if seq not in seen:
            seen[seq] = clock
        recorder.record(seq, clock)
        if k in flushes:
            packets += recorder.build(1, 2)
    packets += recorder.build(1, 2)
    got = reported(packets)
    for s, arrival in got.items():
        if arrival is not None:
            assert s in seen and arrival == seen[s] // 250 * 250, (s, arrival, seen.get(s))
    # At most 3 back per step, 120 steps: never beyond the 500 packets a straggler is kept for.
    assert {s for s, arrival in got.items() if arrival is not None} == set(seen)
