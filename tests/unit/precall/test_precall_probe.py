"""The capacity probe as a pure state machine: a simulated sender through a simulated link, the
phases, the capacity it reads, and the hold rate it asks for (rtserver/precall/probe.py)."""

from __future__ import annotations

import dataclasses

import pytest

from rtserver.precall import probe as p
from rtserver.precall.probe import CapacityProbe, Counters, DelayTracker, Phase, hold_kbps

PACKET_BYTES = 1100  # payload of a full video packet


@dataclasses.dataclass
class Link:
    """A sender at the REMB (capped by what its encoder gives) through a link of ``capacity_kbps``
    (headers included): what passes, the queue it builds (``queue_ms`` while overdriven) and the
    loss (the overflow, plus ``random_loss`` of whatever passes)."""

    capacity_kbps: float = 100_000.0
    encoder_max_kbps: float = 1500.0
    queue_ms: float = 45.0
    random_loss: float = 0.0
    audio_kbps: float = 0.0  # sound alongside, counted apart (payload only, for simple sums)
    audio_bytes: int = 0
    follows_remb: bool = True  # False: the sender keeps its encoder's rate (a browser loosely following)
    sent: int = 0
    received: int = 0
    received_bytes: int = 0
    lost: int = 0

    def run(self, probe: CapacityProbe, *, seconds: float, start: float = 0.0) -> list[int | None]:
        """Drive ``probe`` for ``seconds``; returns the REMBs it asked for at each sample."""
        rembs: list[int | None] = []
        now, send_clock = start, 1000.0
        while now < start + seconds - 1e-9:
            rate = min(probe.target_kbps or 500, self.encoder_max_kbps) if self.follows_remb else self.encoder_max_kbps
            wire_bytes = PACKET_BYTES + p.PACKET_OVERHEAD_BYTES
            packets = round(rate * 1000 / 8 * p.SAMPLE_S / wire_bytes)
            passing = min(packets, round(self.capacity_kbps * 1000 / 8 * p.SAMPLE_S / wire_bytes))
            overdriven = packets > passing
            for i in range(packets):
                at = now + i * p.SAMPLE_S / max(packets, 1)
                delay = self.queue_ms / 1000 * min(1.0, i / max(packets, 1) * 4) if overdriven else 0.0
                abs_send = round((send_clock + at) * (1 << 18)) % (1 << 24)
                if i < passing and (i * 7919 % 1000) >= self.random_loss * 1000:
                    probe.on_video_packet(at + delay, abs_send)
                    self.received += 1
                    self.received_bytes += PACKET_BYTES
                else:
                    self.lost += 1
            self.sent += packets
            self.audio_bytes += round(self.audio_kbps * 1000 / 8 * p.SAMPLE_S)
            now += p.SAMPLE_S
            rembs.append(probe.tick(now, Counters(bytes=self.received_bytes + self.audio_bytes, packets=self.received,
                                                  expected=self.sent, lost=self.lost, audio_bytes=self.audio_bytes)))
        return rembs


def test_it_waits_for_media_then_asks_for_the_probe_rate():
    probe = CapacityProbe()
    assert probe.tick(0.5, Counters(0, 0, 0, 0)) is None and probe.phase is Phase.WAITING
    assert probe.tick(1.0, Counters(1000, 2, 2, 0)) == p.PROBE_KBPS and probe.phase is Phase.PROBING
    assert probe.report(1.0)["phase"] == "probing"


def started() -> CapacityProbe:
    probe = CapacityProbe()
    probe.tick(0.0, Counters(100, 1, 1, 0))
    return probe


def test_a_clean_link_is_read_as_at_least_what_the_sender_gave():
    probe, link = started(), Link()
    link.run(probe, seconds=p.PROBE_S)
    assert probe.phase is Phase.HOLDING and not probe.saturated
    assert 1450 <= probe.capacity_kbps <= 1700  # the sender's 1500 kbit/s and its headers
    assert probe.hold_kbps == p.PROBE_KBPS  # nothing to slow down for
    report = probe.report(p.PROBE_S + 1.0)
    assert report["probe_ms"] == round(p.PROBE_S * 1000) and report["held_ms"] == 1000
    assert all(s["queue_ms"] == 0 and s["loss_pct"] == 0 for s in report["steps"])


@pytest.mark.parametrize("capacity", [150, 300, 600, 1000])
def test_a_narrow_link_is_found_quickly_and_held_below(capacity: int):
    probe, link = started(), Link(capacity_kbps=capacity)
    link.run(probe, seconds=1.5)  # warm-up, then two steps showing the queue
    assert probe.phase is Phase.HOLDING and probe.saturated
    assert capacity * 0.9 <= probe.capacity_kbps <= capacity * 1.1
    assert probe.hold_kbps == hold_kbps(probe.capacity_kbps) < capacity
    assert probe.report(2.0)["probe_ms"] == 1500


def test_the_hold_leaves_room_for_audio_and_repairs():
    assert hold_kbps(1000) == round(p.HOLD_FRACTION * 1000 - p.AUDIO_RESERVE_KBPS)
    assert hold_kbps(300) + p.AUDIO_RESERVE_KBPS <= 0.75 * 300
    assert hold_kbps(60) == p.HOLD_MIN_KBPS


def test_once_holding_the_probe_sends_nothing_new():
    probe, link = started(), Link(capacity_kbps=300)
    rembs = link.run(probe, seconds=4.0)
    held = probe.hold_kbps
    assert held in rembs and rembs[rembs.index(held) + 1:] == [None] * (len(rembs) - rembs.index(held) - 1)
    assert probe.target_kbps == held and len(probe.steps) <= p.MAX_STEPS


def test_random_loss_without_a_queue_reads_the_rate_that_got_through():
    probe, link = started(), Link(random_loss=0.2)
    link.run(probe, seconds=p.PROBE_S)
    assert probe.saturated and 1100 <= probe.capacity_kbps <= 1400  # 80 % of the sender's rate
    assert probe.hold_kbps >= 700  # still video: the loss is judged at the hold, apart


def test_a_queue_alone_marks_the_link_saturated():
    probe = started()
    for i, now in enumerate([0.5, 1.0, 1.5]):
        for k in range(50):
            at = now - 0.5 + k / 100
            probe.on_video_packet(at + (0.04 if i else 0.0), round((1000 + at) * (1 << 18)))
        probe.tick(now, Counters(bytes=(i + 1) * 40_000, packets=(i + 1) * 50, expected=(i + 1) * 50, lost=0))
    assert probe.phase is Phase.HOLDING and probe.saturated and probe.steps[-1].queue_ms >= p.QUEUE_DELAY_MS


def test_delay_tracker_unwraps_the_64_second_clock_and_takes_medians():
    delays = DelayTracker()
    wrap = 1 << 24
    send = wrap - (1 << 17)  # half a second before the wrap
    for i in range(10):
        sent = (send + i * (1 << 14)) % wrap  # every 1/16 s, crossing the wrap
        delays.add(100.0 + i / 16 + (0.03 if i >= 5 else 0.0), sent)
    assert delays.take() == pytest.approx(15.0)  # median of five 0s and five 30 ms
    assert delays.take() is None
    delays.add(200.0 + 10 / 16, (send + 10 * (1 << 14)) % wrap)  # 100 s later by the arrival clock
    assert delays.take() == pytest.approx(100_000.0)


def test_a_reordered_packet_counts_its_earlier_send_time():
    delays = DelayTracker()
    delays.add(10.0, 1 << 18)  # sent at 1 s
    delays.add(10.5, 3 << 17)  # at 1.5 s
    delays.add(10.2505, (1 << 18) + (1 << 16))  # sent at 1.25 s, arriving after the later one
    delays.add(10.75, 7 << 16)  # at 1.75 s
    assert max(delays.samples) < 1.0


def test_the_hold_keeps_what_the_sound_measured_took():
    # aiortc's Opus: about 120 kbit/s with its headers, twice what a browser's takes.
    probe, link = started(), Link(capacity_kbps=600, audio_kbps=120)
    link.run(probe, seconds=1.5)
    assert probe.phase is Phase.HOLDING and probe.audio_kbps == 120
    assert probe.hold_kbps == hold_kbps(probe.capacity_kbps, 120) == round(p.HOLD_FRACTION * probe.capacity_kbps - 120)


def test_the_hold_settles_once_the_video_arriving_comes_down_to_it():
    # A browser that ignores the REMB (Chromium held at 405 kbit/s went on at 1.9 Mbit/s) fills the
    # link: the node receives its whole capacity, not the hold, and the hold is not settled.
    probe, link = started(), Link(capacity_kbps=600)
    link.run(probe, seconds=1.5)
    held = probe.hold_kbps
    assert probe.phase is Phase.HOLDING and probe.saturated and held is not None
    assert probe.report(1.5)["settled_ms"] is None and probe.report(1.5)["hold_recv_kbps"] is None
    link.follows_remb = False
    link.run(probe, seconds=1.0, start=1.5)
    report = probe.report(2.5)
    assert report["settled_ms"] is None and report["hold_recv_kbps"] > p.SETTLED_RATIO * held
    # Then it obeys (the check caps its encoder at the hold): the next step arrives at the hold.
    link.follows_remb = True
    link.run(probe, seconds=0.5, start=2.5)
    report = probe.report(3.0)
    assert report["settled_ms"] == 1500 and report["hold_recv_kbps"] <= p.SETTLED_RATIO * held
    assert report["phase"] == "holding" and report["hold_kbps"] == held


def test_a_hold_at_the_senders_own_pace_is_settled_at_once():
    probe, link = started(), Link()
    link.run(probe, seconds=p.PROBE_S)
    assert not probe.saturated and probe.report(p.PROBE_S)["settled_ms"] == 0


def test_a_hold_settles_on_the_first_step_when_the_sender_follows_the_remb():
    probe, link = started(), Link(capacity_kbps=1000, audio_kbps=40)
    link.run(probe, seconds=2.0)  # the hold at 1.5 s, one step of it
    report = probe.report(2.0)
    assert report["settled_ms"] == 500 and report["hold_recv_kbps"] <= p.SETTLED_RATIO * probe.hold_kbps
