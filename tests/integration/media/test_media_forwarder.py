"""The aiortc boundary: fails loudly when aiortc changes under it; ICE address pinning.

These tests exist to break on an aiortc upgrade: every internal that rtserver.media.forwarder
touches is exercised on real aiortc objects here (and end to end in test_media_interview.py).
"""

from __future__ import annotations

import asyncio
import re
import struct
import sys
import time

import aiortc
import pytest
from aiortc import RTCSessionDescription, VideoStreamTrack
from media_peers import free_udp_port_block
from repo_paths import PYPROJECT, REPO

if str(REPO) not in sys.path:  # loadtest/ is a top-level package of the repository, not an installed one
    sys.path.insert(0, str(REPO))

from loadtest.media_probe import number_packets, offer_transport_cc
from rtserver.media import forwarder
from rtserver.media.forwarder import (
    SUPPORTED_AIORTC,
    AiortcIncompatible,
    CodecSpec,
    HostAddresses,
    Inbound,
    Outbound,
    RtpPacket,
)
from rtserver.media.twcc import Feedback, parse_feedback


class _Sink:
    def __init__(self) -> None:
        self.packets: list[RtpPacket] = []

    async def on_packet(self, packet: RtpPacket, retransmitted: bool, arrival_ntp: int) -> None:
        self.packets.append(packet)

    def on_uplink_estimate(self, bitrate_bps: int) -> None: ...
    def on_ready(self) -> None: ...
    def on_keyframe_request(self) -> None: ...
    def on_remb(self, bitrate_bps: int) -> None: ...


def test_installed_aiortc_is_the_pinned_one() -> None:
    assert aiortc.__version__.startswith(SUPPORTED_AIORTC), (
        f"aiortc {aiortc.__version__} installed: re-check rtserver/media/forwarder.py against its source, "
        "then move SUPPORTED_AIORTC and the pin in pyproject.toml together")
    pin = re.search(r'"aiortc>=([\d.]+),<([\d.]+)"', PYPROJECT.read_text())
    assert pin is not None and SUPPORTED_AIORTC.startswith(pin.group(1)), "pyproject.toml must pin aiortc's range"
    forwarder.check_aiortc()


def test_check_fails_loudly_on_another_aiortc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aiortc, "__version__", "1.17.0")
    with pytest.raises(AiortcIncompatible, match=r"1\.17\.0"):
        forwarder.check_aiortc()


def test_check_fails_loudly_when_an_internal_moved(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(aiortc.RTCRtpReceiver, "_handle_rtp_packet")
    with pytest.raises(AiortcIncompatible, match="_handle_rtp_packet"):
        forwarder.check_aiortc()


async def test_taps_find_every_internal_on_real_objects() -> None:
    pc = forwarder.new_peer_connection()
    try:
        receiving = pc.addTransceiver("video", direction="recvonly")
        sending = forwarder.add_forwarding_transceiver(pc, CodecSpec("video/VP8", 90_000), stream_id="s",
                                                       track_id="t")
        Inbound(receiving, _Sink())
        Outbound(sending, _Sink())
        del sending.sender._RTCRtpSender__rtp_history
        with pytest.raises(AiortcIncompatible, match="__rtp_history"):
            Outbound(sending, _Sink())
    finally:
        await pc.close()


async def _offer_candidates(addresses: HostAddresses) -> list[str]:
    pc = forwarder.new_peer_connection()
    try:
        pc.addTransceiver("audio", direction="sendonly")
        sdp = await forwarder.offer(pc, addresses)
    finally:
        await pc.close()
    return [line for line in sdp.splitlines() if line.startswith("a=candidate:")]


async def test_ice_gathers_on_the_listen_address_only() -> None:
    candidates = await _offer_candidates(HostAddresses(("127.0.0.1",)))
    assert len(candidates) == 1 and " 127.0.0.1 " in candidates[0] and "typ host" in candidates[0]


async def test_ice_announces_another_address() -> None:
    candidates = await _offer_candidates(HostAddresses(("127.0.0.1",), announced="203.0.113.9"))
    assert len(candidates) == 1 and " 203.0.113.9 " in candidates[0]


async def test_aiortc_by_default_skips_loopback() -> None:
    # The fact the listen address option exists for: without it no 127.0.0.1 candidate.
    candidates = await _offer_candidates(HostAddresses())
    assert not any(" 127.0.0.1 " in c for c in candidates)


async def test_ice_binds_ports_of_the_configured_range_until_none_is_left() -> None:
    first = free_udp_port_block(3)
    ports = range(first, first + 3)
    addresses = HostAddresses(("127.0.0.1",), ports=ports)
    pcs = [forwarder.new_peer_connection() for _ in range(4)]
    try:
        used = []
        for pc in pcs[:3]:
            pc.addTransceiver("audio", direction="sendonly")
            sdp = await forwarder.offer(pc, addresses)
            [candidate] = [line for line in sdp.splitlines() if line.startswith("a=candidate:")]
            used.append(int(candidate.split()[5]))
        assert sorted(used) == list(ports)  # each connection got its own port of the range
        pcs[3].addTransceiver("audio", direction="sendonly")
        with pytest.raises(forwarder.NoMediaPort, match=f"{first}-{first + 2}"):
            await forwarder.offer(pcs[3], addresses)
    finally:
        for pc in pcs:
            await pc.close()


async def test_forwarding_sections_offer_exactly_the_publication_codec() -> None:
    pc = forwarder.new_peer_connection()
    try:
        forwarder.add_forwarding_transceiver(pc, CodecSpec("video/VP8", 90_000), stream_id="alice", track_id="cam")
        forwarder.add_forwarding_transceiver(pc, CodecSpec("audio/opus", 48_000, 2), stream_id="alice",
                                             track_id="mic")
        sdp = await forwarder.offer(pc, HostAddresses(("127.0.0.1",)))
    finally:
        await pc.close()
    rtpmaps = [line.split(" ", 1)[1] for line in sdp.splitlines() if line.startswith("a=rtpmap:")]
    assert rtpmaps == ["VP8/90000", "rtx/90000", "opus/48000/2"]
    assert "a=msid:alice cam" in sdp and "a=msid:alice mic" in sdp  # audio and video of one user: one stream
    assert sdp.count("a=sendonly") == 2


async def test_a_publish_answer_keeps_one_codec_per_section() -> None:
    client = forwarder.new_peer_connection()
    server = forwarder.new_peer_connection()
    try:
        client.addTransceiver("video", direction="sendonly")
        await forwarder.offer(client, HostAddresses(("127.0.0.1",)))  # offers VP8, H264 x2 (and RTX)
        await forwarder.set_remote(server, client.localDescription.sdp, "offer")
        for transceiver in server.getTransceivers():
            forwarder.keep_first_codec(transceiver)
        answer = await forwarder.answer(server, HostAddresses(("127.0.0.1",)))
        [(transceiver, codec, sending)] = forwarder.receiving_transceivers(server)
        assert sending and codec == CodecSpec("video/VP8", 90_000)
        rtpmaps = [line.split(" ", 1)[1] for line in answer.splitlines() if line.startswith("a=rtpmap:")]
        assert rtpmaps == ["VP8/90000", "rtx/90000"]
        await client.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    finally:
        await client.close()
        await server.close()


TWCC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"


@pytest.mark.parametrize("offered", [True, False])
async def test_transport_cc_is_answered_when_offered_only(offered: bool) -> None:
    client = forwarder.new_peer_connection()
    server = forwarder.new_peer_connection()
    try:
        client.addTransceiver("audio", direction="sendonly")
        client.addTransceiver("video", direction="sendonly")
        sdp = await forwarder.offer(client, HostAddresses(("127.0.0.1",)))
        await forwarder.set_remote(server, offer_transport_cc(sdp) if offered else sdp, "offer")
        for transceiver in server.getTransceivers():
            forwarder.keep_first_codec(transceiver)
        assert forwarder.accept_transport_cc(server) is offered
        assert forwarder.accept_transport_cc(server) is offered  # applied twice (a renegotiation): once
        answer = await forwarder.answer(server, HostAddresses(("127.0.0.1",)))
    finally:
        await client.close()
        await server.close()
    assert answer.count(f"a=extmap:5 {TWCC}") == (2 if offered else 0)
    feedback = [line for line in answer.splitlines() if line.endswith(" transport-cc")]
    assert len(feedback) == (2 if offered else 0)  # opus and VP8, not RTX
    assert "goog-remb" in answer  # the REMB stays: it caps the publisher to its subscribers' links


def transport_feedback(datagram: bytes) -> list[Feedback]:
    """The transport-feedback packets of one (compound) RTCP datagram."""
    out, pos = [], 0
    while pos + 4 <= len(datagram):
        first, pt, length = struct.unpack_from("!BBH", datagram, pos)
        size = (length + 1) * 4
        if pt == 205 and first & 0x1F == 15:
            out.append(parse_feedback(datagram[pos:pos + size]))
        pos += size
    return out


async def test_numbered_packets_are_answered_with_transport_feedback() -> None:
    """A publisher that numbers its packets as a browser does (loadtest.media_probe) gets feedback
    every 100 ms that reports each of them received, with arrival times that move forward."""
    loopback = HostAddresses(("127.0.0.1",))
    client, server = forwarder.new_peer_connection(), forwarder.new_peer_connection()
    feedback = forwarder.TransportFeedback()
    seen: list[Feedback] = []
    try:
        client.addTrack(VideoStreamTrack())
        await forwarder.set_remote(server, offer_transport_cc(await forwarder.offer(client, loopback)), "offer")
        for transceiver in server.getTransceivers():
            forwarder.keep_first_codec(transceiver)
            Inbound(transceiver, _Sink()).transport_cc = feedback
        assert forwarder.accept_transport_cc(server)
        answer = await forwarder.answer(server, loopback)
        await client.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        number_packets(client)
        transport = client.getTransceivers()[0].sender.transport
        original = transport._handle_rtcp_data

        async def tap(data: bytes) -> None:
            seen.extend(transport_feedback(data))
            await original(data)

        transport._handle_rtcp_data = tap
        deadline = time.monotonic() + 15
        while len(seen) < 10:
            assert time.monotonic() < deadline, f"{len(seen)} feedback packets, {feedback.recorder.packets} numbered"
            await asyncio.sleep(0.05)
    finally:
        feedback.close()
        await client.close()
        await server.close()
    assert feedback.sent >= len(seen) and feedback.recorder.packets > 0
    assert [f.count for f in seen] == list(range(len(seen)))  # none lost on loopback, in order
    received: dict[int, int] = {}
    for item in seen:
        received.update({seq: t for seq, t in item.arrivals.items() if t is not None})
    first, last = min(received), max(received)
    assert len(received) == last - first + 1  # every numbered packet reported received (loopback)
    times = [received[seq] for seq in range(first, last + 1)]
    assert times == sorted(times) and times[-1] > times[0]


def test_candidate_and_ufrag_parsing() -> None:
    candidate = forwarder.parse_candidate("candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host", "0", None)
    assert (candidate.ip, candidate.port, candidate.sdpMid) == ("127.0.0.1", 50000, "0")
    with pytest.raises(ValueError):
        forwarder.parse_candidate("candidate:1 1 udp", "0", None)
    sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=ice-ufrag:abcd\r\n"
    assert forwarder.ice_ufrag(sdp) == "abcd"
