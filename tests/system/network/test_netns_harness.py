"""The impaired-network harness itself: the delay relay, iptables loss, the tbf cap, the UDP block, and
coturn with REST credentials, each measured across a real namespace and veth."""

from __future__ import annotations

import asyncio
import json
import math
import re
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from netns import PROBE, REPO, TwoHosts, kill, two_hosts
from turn_server import TurnServer, turnserver_available

if str(REPO) not in sys.path:  # loadtest/ is a top-level package of the repository, not an installed one
    sys.path.insert(0, str(REPO))
from loadtest.udp_delay import UdpDelayRelay

__all__ = ["two_hosts"]  # the fixture, imported for pytest


class Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(data, addr)  # type: ignore[attr-defined]


class Arrivals(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.times: list[float] = []
        self.bytes: list[int] = []

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.times.append(time.monotonic())
        self.bytes.append(len(data))


async def udp_echo(host: str) -> asyncio.DatagramTransport:
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(Echo, local_addr=(host, 0))
    return transport


async def _echo_tcp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(await reader.read(100))
    await writer.drain()
    writer.close()


@pytest.fixture
async def echoes(two_hosts: TwoHosts) -> AsyncIterator[tuple[str, str]]:
    """A UDP and a TCP echo on the server side: their addresses as HOST:PORT."""
    udp = await udp_echo(two_hosts.server_ip)
    tcp = await asyncio.start_server(_echo_tcp, two_hosts.server_ip, 0)
    yield (f"{two_hosts.server_ip}:{udp.get_extra_info('sockname')[1]}",
           f"{two_hosts.server_ip}:{tcp.sockets[0].getsockname()[1]}")
    udp.close()
    tcp.close()
    await tcp.wait_closed()


async def relayed_echo(net: TwoHosts, delay_ms: float, jitter_ms: float) -> tuple[UdpDelayRelay, asyncio.BaseTransport]:
    """A UDP echo on 127.0.0.1:P behind a relay on server_ip:P, as rtserver's media is set up for delay tests."""
    echo = await udp_echo("127.0.0.1")
    port = echo.get_extra_info("sockname")[1]
    relay = UdpDelayRelay(listen_host=net.server_ip, upstream_host="127.0.0.1", ports=[port],
                          delay_ms=delay_ms, jitter_ms=jitter_ms, seed=1)
    await relay.start()
    return relay, echo


async def test_relay_adds_the_round_trip_delay(two_hosts: TwoHosts) -> None:
    relay, echo = await relayed_echo(two_hosts, delay_ms=200, jitter_ms=0)
    try:
        result = await two_hosts.probe("udp-rtt", "--to", f"{two_hosts.server_ip}:{relay.ports[0]}", "--count", "10")
    finally:
        await relay.close()
        echo.close()
    rtts = result["rtts_ms"]
    assert None not in rtts, rtts
    assert 200 <= result["median_ms"] <= 212, rtts
    assert all(199 <= r <= 240 for r in rtts), rtts
    assert relay.forwarded == 20 and relay.dropped == 0


async def test_relay_adds_jitter(two_hosts: TwoHosts) -> None:
    relay, echo = await relayed_echo(two_hosts, delay_ms=100, jitter_ms=20)
    try:
        result = await two_hosts.probe("udp-rtt", "--to", f"{two_hosts.server_ip}:{relay.ports[0]}", "--count", "20")
    finally:
        await relay.close()
        echo.close()
    rtts = result["rtts_ms"]
    assert None not in rtts, rtts
    # Each way holds 50 ± 20 ms, so a round trip lies in 60..140 ms, spread out rather than constant.
    assert all(58 <= r <= 150 for r in rtts), rtts
    assert result["stdev_ms"] > 4, rtts


def binomial_bounds(n: int, p: float, sigmas: float = 5.0) -> tuple[float, float]:
    """Where a Binomial(n, p) count falls except with negligible probability (5 sigma: ~6e-7)."""
    spread = sigmas * math.sqrt(n * p * (1 - p))
    return n * p - spread, n * p + spread


async def test_loss_drops_that_share_of_udp_into_the_namespace(two_hosts: TwoHosts) -> None:
    two_hosts.loss(0.3)
    sink = await two_hosts.start(str(PROBE), "udp-sink", "--bind", two_hosts.client_ip)
    try:
        assert sink.stdout is not None
        ports = json.loads(await asyncio.wait_for(sink.stdout.readline(), 10))
        # TCP is not impaired: the control connection is also the check that TCP still works.
        reader, writer = await asyncio.open_connection(two_hosts.client_ip, ports["tcp_port"])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for seq in range(1000):
                udp.sendto(seq.to_bytes(4, "big"), (two_hosts.client_ip, ports["udp_port"]))
        writer.write(b"done\n")
        counted = json.loads(await asyncio.wait_for(reader.readline(), 10))
        writer.close()
        await writer.wait_closed()
    finally:
        await kill(sink)
    low, high = binomial_bounds(1000, 0.3)
    lost = 1000 - counted["received"]
    assert low <= lost <= high, f"{lost} of 1000 lost, expected {low:.0f}..{high:.0f}"


async def test_cap_limits_udp_out_of_the_namespace(two_hosts: TwoHosts) -> None:
    two_hosts.cap(150)
    arrivals = Arrivals()
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: arrivals, local_addr=(two_hosts.server_ip, 0))
    try:
        port = transport.get_extra_info("sockname")[1]
        sent = await two_hosts.probe("udp-blast", "--to", f"{two_hosts.server_ip}:{port}", "--kbps", "600",
                                     "--seconds", "3", "--size", "1000")
    finally:
        transport.close()
    assert len(arrivals.times) > 10, sent
    # The first datagram opens the window: bits after it over the time they took.
    kbps = sum(arrivals.bytes[1:]) * 8 / (arrivals.times[-1] - arrivals.times[0]) / 1000
    assert 100 <= kbps <= 160, f"{kbps:.0f} kbit/s received of {sent}"


async def test_uplink_loss_drops_that_share_of_udp_out_of_the_namespace(two_hosts: TwoHosts) -> None:
    two_hosts.loss(up=0.3)
    arrivals = Arrivals()
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: arrivals, local_addr=(two_hosts.server_ip, 0))
    try:
        port = transport.get_extra_info("sockname")[1]
        # 1000 datagrams of 200 bytes in 2 s: far below any queue, so only the rule drops them.
        sent = await two_hosts.probe("udp-blast", "--to", f"{two_hosts.server_ip}:{port}", "--kbps", "800",
                                     "--seconds", "2", "--size", "200")
        await asyncio.sleep(0.2)  # the last datagrams cross the veth (microseconds; 0.2 s is generous)
    finally:
        transport.close()
    low, high = binomial_bounds(sent["sent"], 0.3)
    lost = sent["sent"] - len(arrivals.times)
    assert low <= lost <= high, f"{lost} of {sent} lost, expected {low:.0f}..{high:.0f}"
    assert sent["errors"] == lost, sent  # the sender saw each dropped datagram refused (EPERM)


async def test_loss_each_way_and_the_old_call_form(two_hosts: TwoHosts) -> None:
    with pytest.raises(ValueError):
        two_hosts.loss(0.1, down=0.2)
    with pytest.raises(ValueError):
        two_hosts.loss(up=1.5)
    two_hosts.loss(0.05)
    two_hosts.loss(up=0.1)
    rules = two_hosts.exec("iptables", "-S")
    assert re.search(r"-A INPUT -i \S+ -p udp .*--probability 0\.0499", rules), rules
    assert re.search(r"-A OUTPUT -o \S+ -p udp .*--probability 0\.1000", rules), rules
    assert two_hosts.describe().endswith("(loss down 5%, loss up 10%)")


async def test_asymmetric_cap_shapes_each_direction_apart(two_hosts: TwoHosts) -> None:
    two_hosts.cap(down_kbit=600, up_kbit=150)
    arrivals = Arrivals()
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: arrivals, local_addr=(two_hosts.server_ip, 0))
    try:
        port = transport.get_extra_info("sockname")[1]
        await two_hosts.probe("udp-blast", "--to", f"{two_hosts.server_ip}:{port}", "--kbps", "600",
                              "--seconds", "3", "--size", "1000")
    finally:
        transport.close()
    up_kbps = sum(arrivals.bytes[1:]) * 8 / (arrivals.times[-1] - arrivals.times[0]) / 1000
    assert 100 <= up_kbps <= 160, f"uplink {up_kbps:.0f} kbit/s under a 150 kbit/s cap"

    sink = await two_hosts.start(str(PROBE), "udp-sink", "--bind", two_hosts.client_ip)
    try:
        assert sink.stdout is not None
        ports = json.loads(await asyncio.wait_for(sink.stdout.readline(), 10))
        reader, writer = await asyncio.open_connection(two_hosts.client_ip, ports["tcp_port"])
        seconds = await asyncio.to_thread(blast, (two_hosts.client_ip, ports["udp_port"]), 1200, 3.0)
        writer.write(b"done\n")
        counted = json.loads(await asyncio.wait_for(reader.readline(), 10))
        writer.close()
        await writer.wait_closed()
    finally:
        await kill(sink)
    # 1200 kbit/s offered for 3 s into a 600 kbit/s downlink: about half passes (tbf's 50 ms queue
    # and its one-packet bucket add a few datagrams).
    down_kbps = counted["received"] * 1000 * 8 / seconds / 1000
    assert 500 <= down_kbps <= 680, f"downlink {down_kbps:.0f} kbit/s under a 600 kbit/s cap ({counted})"


def blast(to: tuple[str, int], kbps: float, seconds: float, size: int = 1000) -> float:
    """Send ``size``-byte datagrams at ``kbps`` for ``seconds`` (paced, blocking); the seconds it took."""
    interval = size * 8 / (kbps * 1000)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        start = time.monotonic()
        sent = 0
        while (now := time.monotonic()) - start < seconds:
            if now < start + sent * interval:
                time.sleep(start + sent * interval - now)
            sock.sendto(bytes(size), to)
            sent += 1
        return time.monotonic() - start


async def test_block_udp_stops_udp_but_not_tcp(two_hosts: TwoHosts, echoes: tuple[str, str]) -> None:
    udp, tcp = echoes
    before = await two_hosts.probe("reach", "--udp", udp, "--tcp", tcp)
    assert before["udp"] and before["tcp"], before
    two_hosts.block_udp()
    after = await two_hosts.probe("reach", "--udp", udp, "--tcp", tcp)
    assert not after["udp"] and after["tcp"], after


@pytest.fixture
def turn_server(two_hosts: TwoHosts, tmp_path: Path, request: pytest.FixtureRequest) -> TurnServer:
    if not turnserver_available():
        pytest.skip("turnserver not installed (Debian package coturn)")
    server = TurnServer(two_hosts.server_ip, tmp_path / "turn")
    request.addfinalizer(server.stop)
    server.start()
    return server


async def test_turn_allocation_with_rest_credentials_over_udp_and_tcp(
        two_hosts: TwoHosts, turn_server: TurnServer, echoes: tuple[str, str]) -> None:
    peer, _ = echoes
    server = f"{turn_server.host}:{turn_server.port}"
    username, password = turn_server.credentials("jobseeker-1")
    over_udp = await two_hosts.probe("turn-allocate", "--server", server, "--transport", "udp",
                                     "--username", username, "--password", password, "--peer", peer)
    assert over_udp["allocated"] and over_udp["echo"], (over_udp, turn_server.log_tail())
    assert over_udp["relayed"][0] == turn_server.host

    two_hosts.block_udp()
    over_tcp = await two_hosts.probe("turn-allocate", "--server", server, "--transport", "tcp",
                                     "--username", username, "--password", password, "--peer", peer)
    assert over_tcp["allocated"] and over_tcp["echo"], (over_tcp, turn_server.log_tail())

    refused = await two_hosts.probe("turn-allocate", "--server", server, "--transport", "tcp",
                                    "--username", username, "--password", "not-the-hmac", "--peer", peer)
    assert not refused["allocated"], refused
