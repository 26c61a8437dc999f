"""The Python SDK's pre-call check on loopback: real aiortc media through the node's echo room and
back, measured; the result stored by the server (impaired networks: test_precall_network.py)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Harness

from rtserver.client.precall import (
    check_network,
    downlink_loss_pct,
    network_measurements,
    probe_measurements,
    turn_transport,
)
from rtserver.media.forwarder import HostAddresses

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
    assert "precall:js" not in harness.node.media.rooms  # left: nothing held after the check
    saved = (await client.request("precall_result", measurements=measured))["result"]
    assert saved["verdict"] == "ready", saved["findings"]
    assert (saved["mode"], saved["video"]) == ("video", "720p")


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


def test_turn_urls_name_their_transport():
    assert turn_transport("turn:10.0.0.1:3478?transport=udp") == "turn-udp"
    assert turn_transport("turn:10.0.0.1:3478?transport=tcp") == "turn-tcp"
    assert turn_transport("turn:10.0.0.1:3478") == "turn-udp"
    assert turn_transport("turns:turn.example.test:5349?transport=tcp") == "turn-tls"
    assert turn_transport("stun:10.0.0.1:3478") is None
