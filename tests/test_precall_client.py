"""The Python SDK's pre-call check on loopback: real aiortc media through the node's echo room and
back, measured; the result stored by the server (impaired networks: test_precall_network.py)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Harness

from rtserver.client.precall import check_network, network_measurements, turn_transport
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
    assert measured["transports"] == {"udp": True, "turn-udp": None, "turn-tcp": None, "turn-tls": None,
                                      "turn_configured": False}
    assert "precall:js" not in harness.node.media.rooms  # left: nothing held after the check
    saved = (await client.request("precall_result", measurements=measured))["result"]
    assert saved["verdict"] == "ready", saved["findings"]


def test_network_measurements_take_the_worse_direction_and_deltas():
    first = {"t": 10.0, "sent_bytes": 0, "recv_bytes": 0, "down_expected": 100, "down_lost": 0,
             "up_expected": 100, "up_lost": 0, "up_bytes": None, "jitter_ms": [1.0], "rtt_ms": [20.0]}
    last = {"t": 12.0, "sent_bytes": 250_000, "recv_bytes": 125_000, "down_expected": 300, "down_lost": 4,
            "up_expected": 300, "up_lost": 20, "up_bytes": None, "jitter_ms": [2.0, 7.5], "rtt_ms": [30.0, 41.0]}
    net = network_measurements(first, last, "udp")
    assert net["loss_pct"] == 10.0  # uplink 20 of 200 in the window, downlink 4 of 200
    assert (net["loss_up_pct"], net["loss_down_pct"]) == (10.0, 2.0)
    assert net["send_kbps"] == 1000 and net["recv_kbps"] == 500
    assert net["rtt_ms"] == 41.0 and net["jitter_ms"] == 7.5 and net["duration_ms"] == 2000
    # When the node said what reached it, that is the send rate (a capped link dropped the rest).
    capped = network_measurements({**first, "up_bytes": 1000}, {**last, "up_bytes": 38_500}, "udp")
    assert capped["send_kbps"] == 150


def test_turn_urls_name_their_transport():
    assert turn_transport("turn:10.0.0.1:3478?transport=udp") == "turn-udp"
    assert turn_transport("turn:10.0.0.1:3478?transport=tcp") == "turn-tcp"
    assert turn_transport("turn:10.0.0.1:3478") == "turn-udp"
    assert turn_transport("turns:turn.example.test:5349?transport=tcp") == "turn-tls"
    assert turn_transport("stun:10.0.0.1:3478") is None
