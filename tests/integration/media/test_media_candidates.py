"""Remote ICE candidates on a real node: the addresses a client names get STUN checks only when
the candidate policy allows them (rtserver/media/candidate_policy.py), in the offer's SDP and
trickled, in the pre-call echo room and in interviews, and at most media_max_remote_candidates.

The probes are UDP sockets of the test's own on loopback: a node that obeys a candidate sends
them STUN binding requests within milliseconds (one check every 20 ms)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import aioice.ice
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from conftest import Harness
from media_peers import LOOPBACK, ToneTrack

from rtserver.media.forwarder import new_peer_connection, pin_host_addresses

pytestmark = pytest.mark.timeout(60)

STUN_BINDING_REQUEST = b"\x00\x01"


class Probe(asyncio.DatagramProtocol):
    """A UDP socket that records what reaches it and never answers."""

    def __init__(self) -> None:
        self.packets: list[bytes] = []
        self.arrived = asyncio.Event()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.packets.append(data)
        self.arrived.set()

    @property
    def stun_requests(self) -> int:
        return sum(p[:2] == STUN_BINDING_REQUEST for p in self.packets)


@contextlib.asynccontextmanager
async def probes(*hosts: str) -> AsyncIterator[list[tuple[str, int, Probe]]]:
    loop = asyncio.get_running_loop()
    opened = []
    try:
        for host in hosts:
            transport, probe = await loop.create_datagram_endpoint(Probe, local_addr=(host, 0),
                                                                   family=socket.AF_INET)
            opened.append((transport, (host, transport.get_extra_info("sockname")[1], probe)))
        yield [entry for _, entry in opened]
    finally:
        for transport, _ in opened:
            transport.close()


async def no_packet(targets: list[tuple[str, int, Probe]], *, within_s: float) -> None:
    """A bounded wait: fail as soon as any probe receives something."""
    waits = [asyncio.ensure_future(probe.arrived.wait()) for _, _, probe in targets]
    try:
        done, _ = await asyncio.wait(waits, timeout=within_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
    assert not done, [(host, port, probe.packets) for host, port, probe in targets if probe.packets]


def candidate_line(index: int, host: str, port: int, priority: int) -> str:
    # A distinct foundation per candidate: aioice then checks every pair at once (none frozen).
    return f"candidate:{index} 1 udp {priority} {host} {port} typ host"


async def offer_without_candidates() -> tuple[RTCPeerConnection, str]:
    """A real client offer (one audio section), its own candidates removed."""
    pc = new_peer_connection()
    pc.addTrack(ToneTrack())
    pin_host_addresses(pc, LOOPBACK)
    await pc.setLocalDescription(await pc.createOffer())
    lines = pc.localDescription.sdp.split("\r\n")
    return pc, "\r\n".join(x for x in lines if not x.startswith(("a=candidate:", "a=end-of-candidates")))


def with_candidates(sdp: str, candidates: list[str], *, end: bool = True) -> str:
    """``sdp`` with these candidate lines (and end-of-candidates) in its (only) media section."""
    lines = sdp.rstrip("\r\n").split("\r\n")
    return "\r\n".join([*lines, *(f"a={c}" for c in candidates), *(["a=end-of-candidates"] if end else []), ""])


def refused_total(harness: Harness, reason: str) -> float:
    value = harness.node.metrics.registry.get_sample_value("rtserver_media_candidates_refused_total",
                                                           {"reason": reason})
    return value or 0.0


# -- a node with remote clients refuses internal targets -------------------------------------------
# Bound to loopback (so the test can watch it) but announcing another address: its clients are
# elsewhere, so loopback is not its network, as for a node behind a relay or a 1:1 NAT.
ANNOUNCED = "198.51.100.7"
REMOTE_CLIENTS = {"media_listen_address": "127.0.0.1", "media_announced_address": ANNOUNCED,
                  "media_drop_timeout_s": 1.0}


@pytest.mark.parametrize("settings_overrides", [REMOTE_CLIENTS])
@pytest.mark.parametrize("room", ["precall:js", "iv"])
@pytest.mark.parametrize("trickle", [False, True], ids=["in-sdp", "trickled"])
async def test_candidates_naming_loopback_get_no_stun_and_the_call_still_connects(harness: Harness, room: str,
                                                                                   trickle: bool):
    if room != "precall:js":
        await harness.room(room, {"adv": "member", "js": "member"}, kind="conversation")
    client = await harness.client("js", "jobseeker")
    pc, sdp = await offer_without_candidates()
    try:
        async with probes("127.0.0.1", "127.0.0.2", "127.0.0.1") as targets:
            # The client names only the probes, at the highest priority: a node obeying them
            # checks them first, as soon as it has answered.
            candidates = [candidate_line(i, host, port, 2130706431 - i) for i, (host, port, _) in enumerate(targets)]
            await client.request("media_join", room=room)
            if trickle:
                reply = await client.request("media_offer", room=room, sdp=sdp)
                for line in candidates:
                    await client.request("media_candidate", room=room, pc="publish",
                                         candidate={"candidate": line, "sdp_mid": "0"})
                await client.request("media_candidate", room=room, pc="publish", candidate=None)
            else:
                reply = await client.request("media_offer", room=room, sdp=with_candidates(sdp, candidates))
            # A node that paired them checks one every 20 ms (the trickled ones may come after
            # it started): give it 25 rounds before the client even starts its own checks.
            await no_packet(targets, within_s=0.5)
            # The client reaches the node where the announced address stands for (a relay, a NAT).
            await pc.setRemoteDescription(RTCSessionDescription(reply["sdp"].replace(ANNOUNCED, "127.0.0.1"),
                                                                "answer"))
            # Every candidate was refused, yet the call connects: the node answers the client's
            # checks and pairs with their source. The probes would have been checked before that.
            await client.next_event("media_connection", timeout=10.0,
                                    where=lambda e: e["pc"] == "publish" and e["state"] == "connected")
            assert [probe.packets for _, _, probe in targets] == [[], [], []]
        assert refused_total(harness, "loopback") == 3
        server_pc = harness.media.rooms[room].participants["js"].publisher.pc
        remote = server_pc.getTransceivers()[0].receiver.transport.transport.getRemoteCandidates()
        assert [c.type for c in remote] == ["prflx"]
    finally:
        await pc.close()


# -- a loopback-only node: loopback is its network, the cap still holds ------------------------------
@pytest.mark.parametrize("settings_overrides", [{"media_listen_address": "127.0.0.1", "media_drop_timeout_s": 1.0,
                                                 "media_max_remote_candidates": 4}])
async def test_remote_candidates_past_the_cap_get_no_stun(harness: Harness):
    room = "precall:js"
    client = await harness.client("js", "jobseeker")
    pc, sdp = await offer_without_candidates()
    try:
        async with probes(*["127.0.0.1"] * 9) as targets:
            # The four past the cap have the highest priorities: a node that paired them would
            # check them before the four it may keep.
            candidates = [candidate_line(i, host, port, 1000 + i) for i, (host, port, _) in enumerate(targets[:8])]
            await client.request("media_join", room=room)
            await client.request("media_offer", room=room, sdp=with_candidates(sdp, candidates, end=False))
            kept, dropped = targets[:4], targets[4:8]
            await asyncio.wait_for(asyncio.gather(*(probe.arrived.wait() for _, _, probe in kept)), 10.0)
            assert all(probe.stun_requests for _, _, probe in kept)
            assert [probe.packets for _, _, probe in dropped] == [[], [], [], []]
            # A trickled candidate counts against the same cap (answered ok, as browsers expect).
            host, port, _ = targets[8]
            reply = await client.request("media_candidate", room=room, pc="publish",
                                         candidate={"candidate": candidate_line(8, host, port, 2**30), "sdp_mid": "0"})
            assert reply["type"] == "ok"
            server_pc = harness.media.rooms[room].participants["js"].publisher.pc
            ice = server_pc.getTransceivers()[0].receiver.transport.transport
            assert sorted(c.port for c in ice.getRemoteCandidates()) == sorted(p for _, p, _ in kept)
        assert refused_total(harness, "cap") == 5
    finally:
        await pc.close()


# -- host names: never resolved --------------------------------------------------------------------
@pytest.mark.parametrize("settings_overrides", [{"media_listen_address": "127.0.0.1", "media_drop_timeout_s": 1.0}])
async def test_mdns_candidates_are_not_resolved(harness: Harness, monkeypatch: pytest.MonkeyPatch):
    lookups: list[str] = []

    async def mdns(connection: Any) -> Any:  # aioice's multicast resolver, which must not be reached
        lookups.append(str(connection))
        raise AssertionError("mDNS lookup")

    monkeypatch.setattr(aioice.ice, "get_or_create_mdns_protocol", mdns)
    room = "precall:js"
    client = await harness.client("js", "jobseeker")
    pc, sdp = await offer_without_candidates()
    try:
        name = "1f0e5c2a-9d7b-4c3e-8f00-0a1b2c3d4e5f.local"
        await client.request("media_join", room=room)
        await client.request("media_offer", room=room, sdp=with_candidates(sdp, [candidate_line(0, name, 50000, 100)],
                                                                           end=False))
        await client.request("media_candidate", room=room, pc="publish",
                             candidate={"candidate": candidate_line(1, "printer.local", 50001, 100), "sdp_mid": "0"})
        assert lookups == []
        assert refused_total(harness, "hostname") == 2
    finally:
        await pc.close()
