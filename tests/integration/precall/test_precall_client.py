"""The Python SDK's pre-call check on loopback: real aiortc media through the node's echo room and
back, measured; the result stored by the server (impaired networks: test_precall_network.py)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from conftest import Harness

from rtserver.client.precall import (
    ENCODER_MIN_KBPS,
    PROBE_KBPS,
    InboundCounters,
    NoiseVideo,
    check_network,
    downlink_loss_pct,
    echo_fits_downlink,
    network_measurements,
    probe_measurements,
    submit_result,
    turn_transport,
)
from rtserver.media.forwarder import HostAddresses
from rtserver.precall.verdict import evaluate

pytestmark = pytest.mark.timeout(60)

LOOPBACK = HostAddresses(("127.0.0.1",), None, None)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"media_listen_address": "127.0.0.1"}


async def test_check_network_measures_a_clean_loopback(harness: Harness):
    client = await harness.client("js", "jobseeker")
    measured = await check_network(client, measure_s=2.0, host_addresses=LOOPBACK)
    network = measured["network"]
    assert network["connected"] is True and network["transport"] == "udp"
    assert network["loss_pct"] < 1.0
    assert network["rtt_ms"] is not None and network["rtt_ms"] < 50
    assert network["send_kbps"] > 100 and network["recv_kbps"] > 100  # noise video really flows both ways
    assert 1900 <= network["duration_ms"] <= 4000
    print("clean loopback:", network, "check", measured["duration_ms"], "ms")
    # The probe ran: the encoder, let loose, sent far more than any tier needs, on a link it did not fill.
    assert network["capacity_up_kbps"] >= 1000 and network["capacity_down_kbps"] >= 1000
    assert network["probe"]["saturated_up"] is False and network["probe"]["steps"]
    assert measured["duration_ms"] <= 15_000
    assert measured["transports"] == {"udp": True, "turn-udp": None, "turn-tcp": None, "turn-tls": None,
                                      "turn_configured": False}
    assert "precall:js" not in harness.media.rooms  # left: nothing held after the check
    saved = (await client.request("precall_result", measurements=measured))["result"]
    assert saved["verdict"] == "ready", saved["findings"]
    assert (saved["mode"], saved["video"]) == ("video", "720p")


async def test_a_check_that_hears_nothing_from_the_node_lets_its_encoder_obey_the_hold(harness: Harness,
                                                                                    monkeypatch: pytest.MonkeyPatch):
    # The probe's overflow can starve the WebSocket (TCP behind a full bottleneck): no media_stats
    # reply comes. The noise band, sized for the probe's 1.5 Mbit/s, then kept the encoder near
    # 700 kbit/s into a 500 kbit/s cap whatever the REMB said, and the window read 48 % "loss".
    client = await harness.client("js", "jobseeker")
    sizes: list[float] = []
    set_rate = NoiseVideo.set_rate

    def recorded(self: NoiseVideo, kbps: float) -> None:
        sizes.append(kbps)
        set_rate(self, kbps)

    monkeypatch.setattr(NoiseVideo, "set_rate", recorded)
    request = client.request

    async def starved(type_: str, **fields: Any) -> dict[str, Any]:
        if type_ == "media_stats":
            raise TimeoutError  # what a reply stuck behind a full queue looks like to the check
        return await request(type_, **fields)

    monkeypatch.setattr(client, "request", starved)
    measured = await check_network(client, measure_s=2.0, host_addresses=LOOPBACK)
    assert sizes == [PROBE_KBPS, ENCODER_MIN_KBPS], sizes
    assert measured["network"]["connected"] and measured["duration_ms"] <= 15_000


def test_network_measurements_take_the_worse_direction_and_deltas():
    first = {"t": 10.0, "sent_bytes": 0, "recv_bytes": 0, "down_expected": 100, "down_lost": 0,
             "up_expected": 100, "up_lost": 0, "up_bytes": None, "jitter_ms": [1.0], "rtt_ms": [20.0]}
    last = {"t": 12.0, "sent_bytes": 250_000, "recv_bytes": 125_000, "down_expected": 300, "down_lost": 24,
            "up_expected": 300, "up_lost": 20, "up_bytes": None, "jitter_ms": [2.0, 7.5], "rtt_ms": [30.0, 41.0]}
    net = network_measurements(first, last, "udp")
    assert net["loss_pct"] == 10.0  # uplink 20 of 200 in the window
    # What came back lost 24 of 200 (12 %), the uplink's 10 % included: the downlink lost 1 - 0.88 / 0.9.
    assert (net["loss_up_pct"], net["loss_echo_pct"], net["loss_down_pct"]) == (10.0, 12.0, 2.22)
    assert net["send_kbps"] == 1000 and net["recv_kbps"] == 500
    assert net["rtt_ms"] == 41.0 and net["jitter_ms"] == 7.5 and net["duration_ms"] == 2000
    # When the node said what reached it, that is the send rate (a capped link dropped the rest).
    capped = network_measurements({**first, "up_bytes": 1000}, {**last, "up_bytes": 38_500}, "udp")
    assert capped["send_kbps"] == 150


def test_a_stream_that_vanishes_from_the_report_keeps_its_last_counts():
    # aiortc reports a receiver's SSRCs under one stats id: from the first retransmission on, the
    # RTX stream's entry replaces the video's. Summing only what a report shows gave a negative
    # expected count over the window, read as 0 % loss on a 5 %-loss link.
    counters = InboundCounters()
    counters.update(1, received=3800, lost=200)  # video, before any retransmission
    counters.update(2, received=238, lost=12)  # sound
    first_received, first_lost = counters.totals()
    counters.update(2, received=475, lost=25)  # the next report: sound only (video overwritten by RTX)
    last_received, last_lost = counters.totals()
    assert (first_received, first_lost) == (4038, 212) and (last_received, last_lost) == (4275, 225)
    sample = {"t": 0.0, "sent_bytes": 0, "recv_bytes": 0, "up_expected": 0, "up_lost": 0, "up_bytes": None,
              "jitter_ms": [], "rtt_ms": []}
    first = {**sample, "down_expected": first_received + first_lost, "down_lost": first_lost}
    last = {**sample, "t": 5.0, "down_expected": last_received + last_lost, "down_lost": last_lost}
    assert network_measurements(first, last, "udp")["loss_down_pct"] == pytest.approx(5.2, abs=0.1)


def test_a_lost_count_that_goes_back_reads_as_no_loss_not_a_negative_one():
    # A packet counted lost then arriving late (a jittery link reorders: 300 ms round trip with
    # +-30 ms of jitter) lowers the receiver's cumulative lost count: the window's difference can
    # be negative. The node refuses a negative loss (invalid_message), so the check gave no result.
    first = {"t": 10.0, "sent_bytes": 0, "recv_bytes": 0, "down_expected": 100, "down_lost": 6,
             "up_expected": 100, "up_lost": 3, "up_bytes": None, "jitter_ms": [1.0], "rtt_ms": [300.0]}
    last = {**first, "t": 15.0, "down_expected": 600, "down_lost": 4, "up_expected": 600, "up_lost": 1}
    net = network_measurements(first, last, "udp")
    assert (net["loss_up_pct"], net["loss_echo_pct"], net["loss_down_pct"], net["loss_pct"]) == (0.0, 0.0, 0.0, 0.0)
    evaluate({"network": net})  # the node's schema accepts it


@pytest.mark.parametrize(("up", "down", "saturated_down", "hold", "fits"), [
    (1657, 1657, False, 1500, True),  # a clean link
    (1662, 1585, True, 1500, True),  # 5 % random loss on the downlink: retransmissions refill it
    (1617, 1565, True, 1042, True),  # 10 % each way
    (1657, 939, True, 1500, False),  # a 1000 kbit/s downlink under a wide uplink: the echo overflows it
    (1654, 559, True, 1500, False),  # 600 kbit/s
    (1000, 800, True, 580, True),  # narrower than the uplink, yet wide enough for the rate held
])
def test_the_window_measures_with_sound_alone_when_the_echo_would_overflow_the_downlink(
        up: int, down: int, saturated_down: bool, hold: int, fits: bool):
    capacity = {"capacity_up_kbps": up, "capacity_down_kbps": down, "probe": {"saturated_down": saturated_down}}
    assert echo_fits_downlink(capacity, hold, 120) is fits
    assert echo_fits_downlink({}, hold, None) is True  # no probe: nothing known against it


class SilentNode:
    """A client whose precall_result never gets its answer (a saturated link holds the WebSocket up)."""

    async def request(self, type_: str, **fields: Any) -> dict[str, Any]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_check_whose_result_the_node_does_not_answer_still_gives_one_on_time():
    network = {"connected": True, "transport": "udp", "rtt_ms": 640.0, "jitter_ms": 20.0, "loss_pct": 0.5,
               "loss_up_pct": 0.5, "loss_down_pct": 0.0, "send_kbps": 300, "capacity_up_kbps": 900,
               "capacity_down_kbps": 80}
    started = time.monotonic()
    result = await submit_result(SilentNode(), {"network": network}, timeout_s=0.3)
    assert time.monotonic() - started < 2.0
    assert result["stored"] is False
    assert result == {**evaluate({"network": network}), "stored": False}


@pytest.mark.parametrize(("echo", "up", "down"), [(0.0, 0.0, 0.0), (19.0, 10.0, 10.0), (10.0, 10.0, 0.0),
                                                  (5.0, 10.0, 0.0), (50.0, 0.0, 50.0), (30.0, 100.0, 0.0)])
def test_the_downlink_loss_is_the_echo_loss_less_the_uplink_loss(echo: float, up: float, down: float):
    assert downlink_loss_pct(echo, up) == pytest.approx(down)


def test_the_probe_figures_give_each_direction_its_capacity():
    def sample(t: float, recv: int, down: tuple[int, int], up: tuple[int, int]) -> dict[str, Any]:
        return {"t": t, "recv_bytes": recv, "down_expected": down[0], "down_lost": down[1], "up_expected": up[0],
                "up_lost": up[1]}
    report = {"phase": "holding", "capacity_kbps": 300, "saturated": True, "hold_kbps": 150, "probe_ms": 1500,
              "steps": [{"at_ms": 500, "kbps": 1500, "recv_kbps": 900, "loss_pct": 0.0, "queue_ms": 2.0, "x": 1}]}
    start = sample(0, 0, (0, 0), (0, 0))
    # The uplink lost 60 % of 250 packets (its queue overflowed); what came back lost no more than
    # that: the downlink is at least as wide as the uplink.
    same = probe_measurements(report, start, sample(2.0, 70_000, (250, 150), (250, 150)))
    assert (same["capacity_up_kbps"], same["capacity_down_kbps"]) == (300, 300)
    assert same["probe"]["saturated_up"] is True and same["probe"]["saturated_down"] is False
    assert same["probe"]["steps"] == [{k: v for k, v in report["steps"][0].items() if k != "x"}]
    # Half of what the node forwarded never came back: the downlink is narrower, at the rate that did.
    narrow = probe_measurements(report, start, sample(2.0, 40_000, (250, 200), (250, 150)))
    assert narrow["capacity_down_kbps"] == round((40_000 + 28 * 50) * 8 / 2.0 / 1000)
    assert narrow["probe"]["saturated_down"] is True
    assert probe_measurements(None, start, start) == {}
    assert probe_measurements({**report, "capacity_kbps": None}, start, start) == {}
    # The node's report never came (its replies share the downlink the echo floods), but what came
    # back lost a quarter: the downlink's capacity is what did come back.
    starved = probe_measurements(None, start, sample(2.0, 40_000, (250, 70), (250, 0)))
    assert starved == {"capacity_down_kbps": round((40_000 + 28 * 180) * 8 / 2.0 / 1000)}
    assert evaluate({"network": {"connected": True, "loss_pct": 0.0, "send_kbps": 1500, **starved}})["mode"] == "audio"
    assert probe_measurements(None, start, sample(2.0, 70_000, (250, 0), (250, 0))) == {}


def test_turn_urls_name_their_transport():
    assert turn_transport("turn:10.0.0.1:3478?transport=udp") == "turn-udp"
    assert turn_transport("turn:10.0.0.1:3478?transport=tcp") == "turn-tcp"
    assert turn_transport("turn:10.0.0.1:3478") == "turn-udp"
    assert turn_transport("turns:turn.example.test:5349?transport=tcp") == "turn-tls"
    assert turn_transport("stun:10.0.0.1:3478") is None
