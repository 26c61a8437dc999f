"""The aiortc boundary: the ONE module that relies on aiortc 1.16 and aioice internals.

aiortc is a WebRTC endpoint: it decodes what it receives and encodes what it sends. An SFU
wants neither, so this module taps aiortc at the RTP level:

- ``Inbound`` replaces an ``RTCRtpReceiver``'s packet handler (``_handle_rtp_packet``): each
  RTP packet, already decrypted and parsed by the DTLS transport, goes to the room undecoded,
  with no jitter buffer and no frame reassembly. The receiver's decoder thread is stopped as
  soon as ``receive()`` starts it. Receiver reports still go to the publisher (this module
  feeds the receiver's ``StreamStatistics``), NACKs go out from aiortc's ``NackGenerator``,
  and PLI/REMB are sent through the receiver's RTCP helpers.
- ``Outbound`` writes rewritten packets through an ``RTCRtpSender``'s DTLS transport with the
  sender's SSRC, payload type, MID and header-extension map, records them in the sender's
  retransmission history (so aiortc's own NACK handling answers from it, over RTX), and keeps
  the sender's report counters so its Sender Reports stay true. The sender's RTCP handler is
  wrapped: PLI/FIR and REMB from the subscriber come to the room instead of an encoder.
- ``accept_transport_cc`` adds transport-wide congestion control to the answer of a publisher
  that offers it (aiortc does not speak it): the section's header extensions and codec feedback
  are extended in place before the answer is made, and ``TransportFeedback`` answers the
  numbered packets with RTCP transport feedback (rtserver/media/twcc.py builds the bytes).
- ``new_peer_connection`` guards the remote candidates: every ICE transport the connection
  creates (``RTCPeerConnection.__createDtlsTransport``) gets its ``aioice.Connection``'s
  ``add_remote_candidate`` (where SDP and trickled candidates enter, before aioice resolves an
  mDNS name) and ``_add_remote_candidate`` (where a candidate, resolved, becomes a check target)
  wrapped by the ``CandidateGate`` of rtserver/media/candidate_policy.py, so the node sends no
  STUN to loopback, link-local, its own addresses and the like (``set_remote`` checks it held).
- ``pin_host_addresses`` makes ICE gather on configured addresses (aioice skips 127.0.0.1),
  optionally on UDP ports from a configured range (firewalls), and can announce another address
  in the candidates (1:1 NAT, containers); it also stops the consent task aioice can leave
  running behind a connection closed while ICE completed.

Everything here is checked by ``check_aiortc()`` (run when the media service starts) and by
tests/integration/media/test_media_forwarder.py, so an aiortc upgrade that moves any of it fails loudly instead
of silently decoding again. The supported range is pinned in pyproject.toml. W3C camelCase
names appear only here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, cast

import aioice
import aioice.candidate
import aioice.ice
import aioice.turn
import aiortc
from aiortc import (
    MediaStreamError,
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceCandidate,
    RTCPeerConnection,
    RTCRtpCodecCapability,
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc import sdp as aiortc_sdp
from aiortc.rate import RemoteBitrateEstimator
from aiortc.rtcrtpparameters import RTCRtcpFeedback
from aiortc.rtcrtpreceiver import NackGenerator, StreamStatistics
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RTP_HISTORY_SIZE,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
    unpack_remb_fci,
    unwrap_rtx,
)

from .candidate_policy import CandidateGate, CandidatePolicy, normalise
from .retransmit import RetransmitBudget, RetransmitPolicy
from .twcc import FEEDBACK_INTERVAL_S, TRANSPORT_CC_URI, FeedbackRecorder

__all__ = [
    "SUPPORTED_AIORTC", "AiortcIncompatible", "CodecSpec", "HostAddresses", "Inbound", "InboundHandler",
    "Outbound", "OutboundHandler", "RtpPacket", "TransportFeedback", "accept_transport_cc",
    "add_forwarding_transceiver", "answer", "check_aiortc",
    "ice_ufrag", "keep_first_codec", "new_peer_connection", "ntp_now", "offer", "parse_candidate", "pin_host_addresses",
    "receive_counters", "receiving_transceivers", "relabel", "set_remote",
]

log = logging.getLogger(__name__)

SUPPORTED_AIORTC = "1.16."
NTP_EPOCH_OFFSET_S = 2_208_988_800  # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)

# What this module reaches into. Checked on the classes at start-up, and the name-mangled
# instance attributes on every receiver and sender it taps.
_RECEIVER_METHODS = ("receive", "_handle_rtp_packet", "_send_rtcp", "_send_rtcp_nack", "_send_rtcp_pli",
                     "_RTCRtpReceiver__stop_decoder")
_RECEIVER_ATTRS = ("_enabled", "_RTCRtpReceiver__remote_streams")
_SENDER_METHODS = ("send", "_handle_rtcp_packet", "replaceTrack", "_retransmit")
_SENDER_ATTRS = ("_ssrc", "_stream_id", "_RTCRtpSender__rtp_history", "_RTCRtpSender__rtp_header_extensions_map",
                 "_RTCRtpSender__ntp_timestamp", "_RTCRtpSender__rtp_timestamp", "_RTCRtpSender__octet_count",
                 "_RTCRtpSender__packet_count", "_RTCRtpSender__rtt")
_TRANSCEIVER_ATTRS = ("_codecs", "_headerExtensions")
_ICE_REMOTE_ATTRS = ("add_remote_candidate", "_add_remote_candidate", "_closing")
_ICE_CONNECTION_ATTRS = ("_local_candidates", "_local_candidates_start", "_local_candidates_end", "_components",
                         "_use_ipv4", "_use_ipv6", "get_component_candidates", "connect", "_closing",
                         "_query_consent_task", "_protocols")


class AiortcIncompatible(RuntimeError):
    """The installed aiortc/aioice lacks an internal this module relies on: pin or port it."""


def _require(obj: object, names: tuple[str, ...], what: str) -> None:
    missing = [name for name in names if not hasattr(obj, name)]
    if missing:
        raise AiortcIncompatible(
            f"aiortc {aiortc.__version__} / aioice {aioice.__version__}: {what} lacks {', '.join(missing)}; "
            f"rtserver.media.forwarder supports aiortc {SUPPORTED_AIORTC}x only")


def check_aiortc() -> None:
    """Raise ``AiortcIncompatible`` unless the installed aiortc is the one this module was written for."""
    if not aiortc.__version__.startswith(SUPPORTED_AIORTC):
        raise AiortcIncompatible(f"aiortc {aiortc.__version__} is installed; rtserver's media forwarding relies "
                                 f"on the internals of aiortc {SUPPORTED_AIORTC}x")
    _require(RTCRtpReceiver, _RECEIVER_METHODS, "RTCRtpReceiver")
    _require(RTCRtpSender, _SENDER_METHODS, "RTCRtpSender")
    _require(aioice.Connection, ("get_component_candidates", "gather_candidates", *_ICE_REMOTE_ATTRS[:2]),
             "aioice.Connection")
    _require(RTCPeerConnection, (_CREATE_TRANSPORT,), "RTCPeerConnection")
    _require(aioice.ice, ("get_host_addresses", "StunProtocol"), "aioice.ice")
    _require(aioice.candidate, ("candidate_foundation", "candidate_priority"), "aioice.candidate")
    _require(aioice.turn, ("UDP_SOCKET_BUFFER_SIZE",), "aioice.turn")
    _require(StreamStatistics, ("add", "packets_lost", "packets_expected", "jitter"), "StreamStatistics")
    _require(StreamStatistics(90_000), ("max_seq", "packets_received"), "StreamStatistics")
    _require(NackGenerator(), ("add", "missing"), "NackGenerator")


def ntp_now() -> int:
    """The current time as a 64-bit NTP timestamp (what Sender Reports and abs-send-time carry)."""
    return int((time.time() + NTP_EPOCH_OFFSET_S) * (1 << 32))


# -- peer connections and ICE ----------------------------------------------------------------
@dataclasses.dataclass(frozen=True, slots=True)
class HostAddresses:
    """Where ICE binds (``listen``; empty: every address aioice finds, which skips 127.0.0.1)
    and what the candidates announce instead of the bound address (``announced``; None: the bound one)."""

    listen: tuple[str, ...] = ()
    announced: str | None = None
    ports: range | None = None  # UDP ports to bind (firewalls open only these); None: any ephemeral port
    remote: CandidatePolicy | None = None  # which remote candidates the node sends to; None: any (clients)


_CREATE_TRANSPORT = "_RTCPeerConnection__createDtlsTransport"


def new_peer_connection(addresses: HostAddresses | None = None) -> RTCPeerConnection:
    """A peer connection with no ICE servers of its own (aiortc would add a public STUN server).

    With ``addresses.remote`` (the node's connections), its remote candidates pass that policy.
    """
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
    if addresses is not None and addresses.remote is not None:
        _guard_remote_candidates(pc, addresses.remote)
    return pc


def _guard_remote_candidates(pc: RTCPeerConnection, policy: CandidatePolicy) -> None:
    # Remote candidates reach aioice through RTCIceTransport.addRemoteCandidate, from
    # setRemoteDescription (the SDP's a=candidate lines) and addIceCandidate (trickled), on ICE
    # transports setRemoteDescription may create itself (the publish side's, from the offer):
    # so the guard goes on every transport as the peer connection creates it. One gate per
    # peer connection: unbundled sections share its cap.
    _require(pc, (_CREATE_TRANSPORT,), "RTCPeerConnection")
    gate = policy.gate(aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True))
    create = getattr(pc, _CREATE_TRANSPORT)

    def create_guarded() -> Any:
        transport = create()
        _guard_connection(transport.transport.iceGatherer._connection, gate)
        return transport

    setattr(pc, _CREATE_TRANSPORT, create_guarded)
    cast(Any, pc)._rtserver_candidate_gate = gate  # what set_remote checks


def _guard_connection(connection: aioice.Connection, gate: CandidateGate) -> None:
    _require(connection, _ICE_REMOTE_ATTRS, "aioice.Connection")
    add, pair = connection.add_remote_candidate, connection._add_remote_candidate
    accepted = 0

    async def add_remote_candidate(candidate: aioice.Candidate | None) -> None:
        if candidate is None and not accepted:
            # End of candidates with none kept: aioice would drop the component (it has no remote
            # candidate), gather nothing and answer with no candidate. Keep waiting instead: the
            # client's checks reach the node, which pairs with where they come from (prflx).
            log.debug("end of remote candidates ignored: every candidate was refused")
            return
        # A host name is refused here, before aioice would resolve it (mDNS, by multicast).
        if candidate is not None and normalise(candidate.host) is None and not connection._closing:
            refusal = gate.admit(candidate.host, candidate.port, candidate.transport, candidate.type)
            if refusal is not None:
                log.debug("remote candidate refused (%s): %s:%s", refusal, candidate.host, candidate.port)
                return
        await add(candidate)

    def add_resolved(candidate: aioice.Candidate, network_host: str) -> None:
        # Every candidate aioice would pair comes through here, with the address it would send to.
        refusal = gate.admit(network_host, candidate.port, candidate.transport, candidate.type)
        if refusal is not None:
            log.debug("remote candidate refused (%s): %s:%s", refusal, network_host, candidate.port)
            return
        nonlocal accepted
        accepted += 1
        pair(candidate, network_host)

    # Replaced on the instance: aioice's types have methods there (cast: the checker refuses that).
    cast(Any, connection).add_remote_candidate = add_remote_candidate
    cast(Any, connection)._add_remote_candidate = add_resolved
    cast(Any, connection)._rtserver_candidate_gate = gate


def _check_guarded(pc: RTCPeerConnection) -> None:
    """Fail loudly if a guarded peer connection has an ICE transport the guard missed (aiortc moved)."""
    gate = getattr(pc, "_rtserver_candidate_gate", None)
    if gate is None:
        return
    for transceiver in pc.getTransceivers():
        connection = transceiver.receiver.transport.transport.iceGatherer._connection
        if getattr(connection, "_rtserver_candidate_gate", None) is not gate:
            raise AiortcIncompatible(f"aiortc {aiortc.__version__}: an ICE transport was created without going "
                                     f"through {_CREATE_TRANSPORT}: its remote candidates are not checked")


def pin_host_addresses(pc: RTCPeerConnection, addresses: HostAddresses) -> None:
    """Prepare every ICE agent of ``pc`` that has not gathered yet: gather on ``addresses``, and
    never leave a consent-freshness task behind a closed connection.

    Call before ``setLocalDescription`` (which gathers). Idempotent.
    """
    for transceiver in pc.getTransceivers():
        connection = transceiver.receiver.transport.transport.iceGatherer._connection
        if "connect" in vars(connection):
            continue
        _require(connection, _ICE_CONNECTION_ATTRS, "aioice.Connection")
        patched = cast(Any, connection)  # its methods are replaced on the instance
        patched.connect = functools.partial(_connect_then_check_closed, connection, connection.connect)
        if addresses.listen or addresses.announced is not None or addresses.ports is not None:
            patched.gather_candidates = functools.partial(_gather_candidates, connection, addresses)


def receive_counters(pc: RTCPeerConnection) -> dict[int, tuple[int, int]]:
    """(packets received, packets lost) per SSRC that ``pc``'s receivers get, each stream apart and
    counted before retransmission (a retransmission stream is its own SSRC). aiortc's getStats
    reports every SSRC of a receiver under one id, so from the first retransmission on its RTX
    entry hides the video's: a pre-call check's window then counted only the sound's 250 packets,
    and a 5 %-loss link read under the 3 % warning line in 1 check in 8."""
    out: dict[int, tuple[int, int]] = {}
    for transceiver in pc.getTransceivers():
        receiver: Any = transceiver.receiver
        _require(receiver, ("_RTCRtpReceiver__remote_streams",), "RTCRtpReceiver")
        for ssrc, stream in list(receiver._RTCRtpReceiver__remote_streams.items()):
            out[ssrc] = (stream.packets_received, max(0, stream.packets_lost))
    return out


def nominated_candidate_type(pc: RTCPeerConnection) -> str | None:
    """The type of the local candidate ICE nominated on ``pc`` (``host``, ``srflx``, ``relay``), or
    None while none is (aioice keeps it on its connection; the pre-call check reads it)."""
    for transceiver in pc.getTransceivers():
        connection = transceiver.receiver.transport.transport.iceGatherer._connection
        _require(connection, ("_nominated",), "aioice.Connection")
        for pair in connection._nominated.values():
            return str(pair.local_candidate.type)
    return None


async def _connect_then_check_closed(connection: aioice.Connection, connect: Callable[[], Awaitable[None]]) -> None:
    # aioice 0.13 race: when close() runs while connect() waits for a check list that has just
    # completed, connect() resumes afterwards and starts the consent task (RFC 7675) on a closed
    # connection, where it loops forever (every 5 s, over no pair). Stop it when that happened.
    await connect()
    task = connection._query_consent_task
    if connection._closing and task is not None and not task.done():
        task.cancel()


async def _gather_candidates(connection: aioice.Connection, addresses: HostAddresses) -> None:
    # aioice.Connection.gather_candidates, with our address list instead of get_host_addresses().
    if connection._local_candidates_start:
        return
    connection._local_candidates_start = True
    listen = list(addresses.listen) or aioice.ice.get_host_addresses(
        use_ipv4=connection._use_ipv4, use_ipv6=connection._use_ipv6)
    found: list[aioice.Candidate] = []
    for component in sorted(connection._components):
        if addresses.ports is None:
            found += await connection.get_component_candidates(component=component, addresses=listen)
        else:
            found += await _host_candidates_in_range(connection, component, listen, addresses.ports)
    if addresses.announced is not None:
        # Advertise the announced address; the sockets' own candidates keep the bound one for pairing.
        found = [aioice.Candidate(foundation=c.foundation, component=c.component, transport=c.transport,
                                  priority=c.priority, host=addresses.announced, port=c.port, type=c.type,
                                  related_address=c.related_address, related_port=c.related_port,
                                  tcptype=c.tcptype) if c.type == "host" else c for c in found]
    connection._local_candidates += found
    connection._local_candidates_end = True


class NoMediaPort(Exception):
    """Every UDP port of the configured range is in use on an address."""


_next_port: dict[range, int] = {}  # where the next search in each range starts: ports are spread, not reused at once


async def _host_candidates_in_range(connection: aioice.Connection, component: int, listen: list[str],
                                    ports: range) -> list[aioice.Candidate]:
    # The host-candidate part of aioice.Connection.get_component_candidates, binding a port of
    # ``ports`` instead of an ephemeral one. The node uses no STUN or TURN server itself.
    loop = asyncio.get_running_loop()
    candidates = []
    for address in listen:
        start = _next_port.get(ports, 0)
        for step in range(len(ports)):
            port = ports[(start + step) % len(ports)]
            try:
                transport, protocol = await loop.create_datagram_endpoint(
                    lambda: aioice.ice.StunProtocol(connection), local_addr=(address, port))
            except OSError:
                continue  # in use
            _next_port[ports] = (start + step + 1) % len(ports)
            break
        else:
            raise NoMediaPort(f"no free UDP port in {ports.start}-{ports.stop - 1} on {address}")
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, aioice.turn.UDP_SOCKET_BUFFER_SIZE)
        host, bound_port = transport.get_extra_info("sockname")[:2]
        protocol.local_candidate = aioice.Candidate(
            foundation=aioice.candidate.candidate_foundation("host", "udp", host), component=component,
            transport="udp", priority=aioice.candidate.candidate_priority(component, "host"), host=host,
            port=bound_port, type="host")
        connection._protocols.append(protocol)
        candidates.append(protocol.local_candidate)
    return candidates


def parse_candidate(candidate: str, sdp_mid: str | None, sdp_mline_index: int | None) -> RTCIceCandidate:
    """An ``RTCIceCandidate`` from a trickled candidate line; ValueError when it is not one."""
    try:
        parsed = aiortc_sdp.candidate_from_sdp(candidate.removeprefix("candidate:"))
    except (AssertionError, ValueError, IndexError) as exc:
        raise ValueError(f"not an ICE candidate: {candidate[:80]!r}") from exc
    parsed.sdpMid = sdp_mid
    parsed.sdpMLineIndex = sdp_mline_index
    return parsed


def ice_ufrag(sdp: str) -> str | None:
    """The ICE username fragment of a description's first media section (it changes on an ICE restart);
    ValueError when the description cannot be read (aiortc asserts on some malformed lines, "m=")."""
    try:
        description = aiortc_sdp.SessionDescription.parse(sdp)
    except (AssertionError, ValueError, IndexError, KeyError) as exc:
        raise ValueError(f"not a session description: {exc or type(exc).__name__}") from exc
    for media in description.media:
        if media.ice is not None and media.ice.usernameFragment:
            return str(media.ice.usernameFragment)
    return None


async def set_remote(pc: RTCPeerConnection, sdp: str, kind: str) -> None:
    _check_guarded(pc)  # the subscribe side's transports exist already: their candidates come now
    await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type=kind))
    _check_guarded(pc)


async def answer(pc: RTCPeerConnection, addresses: HostAddresses) -> str:
    """Create and apply the answer to the remote offer just set; return its SDP (candidates included)."""
    pin_host_addresses(pc, addresses)
    await pc.setLocalDescription(await pc.createAnswer())
    return str(pc.localDescription.sdp)


async def offer(pc: RTCPeerConnection, addresses: HostAddresses) -> str:
    pin_host_addresses(pc, addresses)
    await pc.setLocalDescription(await pc.createOffer())
    return str(pc.localDescription.sdp)


# -- codecs ----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, slots=True)
class CodecSpec:
    """One negotiated codec, as forwarding needs it: publisher and subscriber must agree on it."""

    mime_type: str  # "video/VP8", "audio/opus"
    clock_rate: int
    channels: int | None = None
    parameters: tuple[tuple[str, Any], ...] = ()  # fmtp parameters as aiortc holds them (str, int or None)

    @property
    def kind(self) -> str:
        return self.mime_type.split("/", 1)[0].lower()

    @property
    def name(self) -> str:
        return self.mime_type.split("/", 1)[1].upper()

    @classmethod
    def from_aiortc(cls, codec: RTCRtpCodecParameters) -> CodecSpec:
        return cls(codec.mimeType, codec.clockRate, codec.channels, tuple(sorted(codec.parameters.items())))

    def capability(self) -> RTCRtpCodecCapability:
        return RTCRtpCodecCapability(mimeType=self.mime_type, clockRate=self.clock_rate, channels=self.channels,
                                     parameters=dict(self.parameters))

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mime_type": self.mime_type, "clock_rate": self.clock_rate}
        if self.channels:
            out["channels"] = self.channels
        if self.parameters:
            out["parameters"] = {k: v for k, v in self.parameters}
        return out


def _is_rtx(codec: RTCRtpCodecParameters | RTCRtpCodecCapability) -> bool:
    return codec.mimeType.lower().endswith("/rtx")


def receiving_transceivers(pc: RTCPeerConnection) -> list[tuple[RTCRtpTransceiver, CodecSpec | None, bool]]:
    """After answering a publisher's offer: each media section, its codec, and whether the client sends on it.

    The answer keeps one codec per section (the first the client offered that aiortc speaks,
    plus its RTX), so the publisher cannot switch to a codec the subscribers were not offered.
    """
    out = []
    for transceiver in pc.getTransceivers():
        _require(transceiver, _TRANSCEIVER_ATTRS, "RTCRtpTransceiver")
        main = next((c for c in transceiver._codecs if not _is_rtx(c)), None)
        sending = transceiver.currentDirection in ("recvonly", "sendrecv") and not transceiver.stopped
        out.append((transceiver, None if main is None else CodecSpec.from_aiortc(main), sending))
    return out


def keep_first_codec(transceiver: RTCRtpTransceiver) -> None:
    """Narrow a section just negotiated from a remote offer to its first codec and that codec's RTX."""
    main = next((c for c in transceiver._codecs if not _is_rtx(c)), None)
    if main is None:
        return
    transceiver._codecs = [c for c in transceiver._codecs
                           if c is main or (_is_rtx(c) and c.parameters.get("apt") == main.payloadType)]


def accept_transport_cc(pc: RTCPeerConnection) -> bool:
    """After a publisher's offer is set: answer its transport-wide congestion control, if offered.

    aiortc answers only the header extensions and feedback it knows (``HEADER_EXTENSIONS``,
    ``CODECS``), which leaves a browser with REMB and loss as its only guides. Each section whose
    offer carries the transport-wide sequence number gets it back, with the id offered, and
    ``transport-cc`` feedback on each codec the offer gave it to; the receiver's packets then carry
    the number (aiortc's header map parses it). True when at least one section took it.
    """
    remote = pc.remoteDescription
    if remote is None:
        return False
    offered = {m.rtp.muxId: m for m in aiortc_sdp.SessionDescription.parse(remote.sdp).media}
    accepted = False
    for transceiver in pc.getTransceivers():
        _require(transceiver, _TRANSCEIVER_ATTRS, "RTCRtpTransceiver")
        media = offered.get(transceiver.mid or "")
        if media is None:
            continue
        extension = next((e for e in media.rtp.headerExtensions if e.uri == TRANSPORT_CC_URI), None)
        if extension is None:
            continue
        if not any(e.uri == TRANSPORT_CC_URI for e in transceiver._headerExtensions):
            transceiver._headerExtensions.append(RTCRtpHeaderExtensionParameters(id=extension.id,
                                                                                 uri=TRANSPORT_CC_URI))
        feedback = RTCRtcpFeedback(type="transport-cc")
        offered_feedback = {c.payloadType: c.rtcpFeedback for c in media.rtp.codecs}
        for codec in transceiver._codecs:
            if feedback in offered_feedback.get(codec.payloadType, []) and feedback not in codec.rtcpFeedback:
                codec.rtcpFeedback.append(feedback)
        accepted = True
    return accepted


class _RawRtcp:
    """An RTCP packet already serialised (aiortc has no transport-feedback packet)."""

    def __init__(self, data: bytes):
        self.data = data

    def __bytes__(self) -> bytes:
        return self.data

    def __repr__(self) -> str:
        return f"RawRtcp({len(self.data)} bytes)"


class TransportFeedback:
    """Transport-wide feedback for one publish connection: every numbered packet its sections
    receive is recorded (``Inbound`` calls ``record``), and the feedback goes out every
    ``FEEDBACK_INTERVAL_S`` while packets arrive, through the connection's video receiver."""

    def __init__(self, interval_s: float = FEEDBACK_INTERVAL_S):
        self.recorder = FeedbackRecorder()
        self._interval_s = interval_s
        self._t0_ns = time.monotonic_ns()
        self._via: Inbound | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._closed = False
        self.sent = 0

    def record(self, seq: int, inbound: Inbound) -> None:
        # Arrival as the loop sees it: aiortc gives milliseconds, the feedback carries 250 us.
        self.recorder.record(seq, (time.monotonic_ns() - self._t0_ns) // 1000)
        if self._via is None or (inbound.kind == "video" and self._via.kind != "video"):
            self._via = inbound
        if self._timer is None and not self._closed:
            self._timer = asyncio.get_running_loop().call_later(self._interval_s, self._flush)

    def _flush(self) -> None:
        self._timer = None
        via = self._via
        if via is None or via._closed or self._closed:
            return
        for data in self.recorder.build(via._rtcp_ssrc, via.ssrc or 0):
            task = asyncio.ensure_future(via._receiver._send_rtcp(cast(Any, _RawRtcp(data))))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
            self.sent += 1

    def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class _ForwardTrack(MediaStreamTrack):
    """The track a forwarding sender is given: it never yields a frame, so the sender's own RTP
    loop (the encode path) ends at once; ``Outbound`` writes the packets. Its id is the msid."""

    def __init__(self, kind: str, track_id: str):
        super().__init__()
        self.kind = kind
        self._id = track_id

    async def recv(self) -> Any:
        raise MediaStreamError


def add_forwarding_transceiver(pc: RTCPeerConnection, codec: CodecSpec, *, stream_id: str,
                               track_id: str) -> RTCRtpTransceiver:
    """A send-only section that offers exactly ``codec`` (plus RTX for video)."""
    transceiver = pc.addTransceiver(_ForwardTrack(codec.kind, track_id), direction="sendonly")
    preferences = [codec.capability()]
    if codec.kind == "video":
        preferences.append(RTCRtpCodecCapability(mimeType="video/rtx", clockRate=codec.clock_rate))
    transceiver.setCodecPreferences(preferences)
    transceiver.sender._stream_id = stream_id
    return transceiver


def relabel(transceiver: RTCRtpTransceiver, *, stream_id: str, track_id: str, active: bool) -> None:
    """Point a forwarding section at another track (its msid) and turn it on or off (next offer)."""
    transceiver.sender.replaceTrack(_ForwardTrack(transceiver.kind, track_id))
    transceiver.sender._stream_id = stream_id
    transceiver.direction = "sendonly" if active else "inactive"


# -- receive side ----------------------------------------------------------------------------
class InboundHandler(Protocol):
    async def on_packet(self, packet: RtpPacket, retransmitted: bool, arrival_ntp: int) -> None: ...
    def on_uplink_estimate(self, bitrate_bps: int) -> None: ...


class Inbound:
    """Taps one receiving section of a publish connection: its packets go to ``handler`` undecoded."""

    def __init__(self, transceiver: RTCRtpTransceiver, handler: InboundHandler | None = None):
        receiver: Any = transceiver.receiver  # its internals are read and replaced by name (_require checks them)
        _require(receiver, _RECEIVER_METHODS + _RECEIVER_ATTRS, "RTCRtpReceiver")
        self.kind: str = transceiver.kind
        self.mid: str | None = transceiver.mid
        self.handler = handler  # None: not published (yet, or any more): packets are dropped
        self.ssrc: int | None = None  # the media SSRC seen last
        self.packets = 0
        self.bytes = 0
        self.retransmissions = 0
        self.nacks_sent = 0
        self.plis_sent = 0
        self.remb_sent_bps: int | None = None
        self.uplink_estimate_bps: int | None = None
        self._receiver: RTCRtpReceiver = receiver
        self._rtcp_ssrc = transceiver.sender._ssrc  # what aiortc reports as on this section
        self._codecs: dict[int, RTCRtpCodecParameters] = {}
        self._rtx_types: frozenset[int] = frozenset()
        self._rtx_ssrc: dict[int, int] = {}
        self._clock_rate = 90_000 if self.kind == "video" else 48_000
        self._streams: dict[int, StreamStatistics] = receiver._RTCRtpReceiver__remote_streams
        self._nack = NackGenerator() if self.kind == "video" else None
        self.nacks = True  # retransmissions are asked for (set_nacks)
        self._estimator = RemoteBitrateEstimator() if self.kind == "video" else None
        self.transport_cc: TransportFeedback | None = None  # set when the connection negotiated it
        self._closed = False
        original_receive = receiver.receive

        async def receive(parameters: Any) -> None:
            await original_receive(parameters)
            self._codecs = {c.payloadType: c for c in parameters.codecs}
            self._rtx_types = frozenset(pt for pt, c in self._codecs.items() if _is_rtx(c))
            self._rtx_ssrc = {e.rtx.ssrc: e.ssrc for e in parameters.encodings if e.rtx is not None}
            receiver._RTCRtpReceiver__stop_decoder()  # nothing is decoded here: end the thread it started

        receiver.receive = receive
        receiver._handle_rtp_packet = self._handle_rtp_packet

    def close(self) -> None:
        self._closed = True

    async def _handle_rtp_packet(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        if self._closed or not self._receiver._enabled:
            return
        if self.transport_cc is not None and packet.extensions.transport_sequence_number is not None:
            # Every numbered packet, padding probes and retransmissions too: the sender's estimate
            # of the link is built from them all.
            self.transport_cc.record(packet.extensions.transport_sequence_number, self)
        codec = self._codecs.get(packet.payload_type)
        if codec is None:
            return
        retransmitted = packet.payload_type in self._rtx_types
        if retransmitted:
            original_ssrc = self._rtx_ssrc.get(packet.ssrc)
            apt = codec.parameters.get("apt")
            if original_ssrc is None or len(packet.payload) < 2 or apt not in self._codecs:
                return  # unknown stream, or padding sent to probe bandwidth
            packet = unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc)
            self.retransmissions += 1
        else:
            stream = self._streams.get(packet.ssrc)
            if stream is None:
                stream = self._streams[packet.ssrc] = StreamStatistics(codec.clockRate)
            stream.add(packet)  # feeds the receiver reports aiortc sends the publisher
            self.ssrc = packet.ssrc
            self._clock_rate = codec.clockRate
            if self._estimator is not None and packet.extensions.abs_send_time is not None:
                remb = self._estimator.add(abs_send_time=packet.extensions.abs_send_time,
                                           arrival_time_ms=arrival_time_ms,
                                           payload_size=len(packet.payload) + packet.padding_size, ssrc=packet.ssrc)
                if remb is not None:
                    self.uplink_estimate_bps = remb[0]
                    if self.handler is not None:
                        self.handler.on_uplink_estimate(remb[0])
        if self._nack is not None and self._nack.add(packet) and self.nacks:
            self.nacks_sent += 1
            await self._receiver._send_rtcp_nack(packet.ssrc, sorted(self._nack.missing))
        self.packets += 1
        self.bytes += len(packet.payload)
        if self.handler is not None:
            await self.handler.on_packet(packet, retransmitted, ntp_now())

    def set_nacks(self, on: bool) -> None:
        """Ask for retransmissions (the default) or not. The pre-call probe overdrives the link on
        purpose: retransmissions of what it lost would only add to the publisher's queue (Chromium
        then sent 60 % retransmissions and took 2 s to drain them at the hold). Turned back on,
        what went missing before is not asked for: only gaps from then on."""
        if on and not self.nacks and self._nack is not None:
            self._nack.missing.clear()
        self.nacks = on

    async def send_pli(self) -> bool:
        """Ask the publisher for a keyframe; False when no media has arrived yet to name."""
        if self.ssrc is None or self._closed:
            return False
        self.plis_sent += 1
        await self._receiver._send_rtcp_pli(self.ssrc)
        return True

    async def send_remb(self, bitrate_bps: int) -> None:
        if self.ssrc is None or self._closed:
            return
        self.remb_sent_bps = bitrate_bps
        await self._receiver._send_rtcp(RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=self._rtcp_ssrc, media_ssrc=0,
                                                       fci=pack_remb_fci(bitrate_bps, [self.ssrc])))

    def restart_uplink_estimate(self) -> None:
        """Estimate the uplink afresh: the publisher sends video again after the node had it stop
        (``media_fallback`` ``send``), and what the estimator knew measured the link before."""
        if self.kind == "video":
            self._estimator = RemoteBitrateEstimator()
        self.uplink_estimate_bps = None

    def stats(self) -> dict[str, Any]:
        """Receive-side counters of the current source: loss is before retransmission."""
        out: dict[str, Any] = {"packets": self.packets, "bytes": self.bytes, "retransmissions": self.retransmissions,
                               "nacks_sent": self.nacks_sent, "keyframe_requests": self.plis_sent}
        stream = None if self.ssrc is None else self._streams.get(self.ssrc)
        if stream is not None and stream.max_seq is not None:
            out.update(packets_expected=stream.packets_expected, packets_lost=max(0, stream.packets_lost),
                       jitter_ms=round(stream.jitter * 1000 / self._clock_rate, 2))
        if self.uplink_estimate_bps is not None:
            out["uplink_estimate_kbps"] = self.uplink_estimate_bps // 1000
        if self.remb_sent_bps is not None:
            out["remb_sent_kbps"] = self.remb_sent_bps // 1000
        if self.transport_cc is not None:
            out["transport_cc_feedbacks"] = self.transport_cc.sent
        return out


# -- send side -------------------------------------------------------------------------------
class OutboundHandler(Protocol):
    def on_ready(self) -> None: ...
    def on_keyframe_request(self) -> None: ...
    def on_remb(self, bitrate_bps: int) -> None: ...


class Outbound:
    """Writes forwarded packets as one sending section of a subscribe connection."""

    def __init__(self, transceiver: RTCRtpTransceiver, handler: OutboundHandler,
                 retransmit_policy: RetransmitPolicy | None = None):
        sender: Any = transceiver.sender  # its internals are read and replaced by name (_require checks them)
        _require(sender, _SENDER_METHODS + _SENDER_ATTRS, "RTCRtpSender")
        self.kind: str = transceiver.kind
        self.transceiver = transceiver
        self.handler = handler
        self.ssrc: int = sender._ssrc
        self.ready = False  # True once DTLS is up and the section negotiated
        self.packets = 0
        self.bytes = 0
        self.frames = 0
        self.keyframe_requests_received = 0
        self.nacks_received = 0
        self.remb_bps: int | None = None
        # When the subscriber's last two receiver reports about this section arrived (monotonic): the
        # last one's loss covers the time between them. Chromium reports sound every ~5 s, so a loss
        # figure can describe a link as it was seconds ago (see links.LinkMonitor._receive).
        self.report_at: float | None = None
        self.report_since: float | None = None
        # False: the subscriber's NACKs and keyframe requests are counted, not acted on (the pre-call probe)
        self.repairs = True
        # What the subscriber's NACKs may cost: each packet once a round trip, within a share of
        # what the section forwards (retransmit.py: unbudgeted, a 100 kbit/s downlink got 2 Mbit/s).
        self.retransmits = RetransmitBudget(retransmit_policy)
        self._sender: RTCRtpSender = sender
        self._history: dict[int, RtpPacket] = sender._RTCRtpSender__rtp_history
        self._extensions_map = sender._RTCRtpSender__rtp_header_extensions_map
        self._payload_type = 0
        self._clock_rate = 90_000 if self.kind == "video" else 48_000
        self._mid: str | None = None
        self._closed = False
        original_send = sender.send
        self._original_rtcp: Callable[[Any], Awaitable[None]] = sender._handle_rtcp_packet

        async def send(parameters: Any) -> None:
            await original_send(parameters)
            self._payload_type = parameters.codecs[0].payloadType
            self._clock_rate = parameters.codecs[0].clockRate
            self._mid = parameters.muxId
            self.ready = True
            self.handler.on_ready()

        sender.send = send
        sender._handle_rtcp_packet = self._handle_rtcp_packet

    def close(self) -> None:
        self._closed = True
        self.ready = False

    async def write(self, packet: RtpPacket, seq: int, timestamp: int, ntp: int, now: float) -> None:
        """Send ``packet``'s payload as this section's packet ``seq`` with ``timestamp`` (``now``:
        the monotonic clock)."""
        if not self.ready or self._closed:
            return
        out = RtpPacket(payload_type=self._payload_type, marker=packet.marker, sequence_number=seq,
                        timestamp=timestamp, ssrc=self.ssrc, payload=packet.payload)
        extensions = out.extensions
        extensions.mid = self._mid
        extensions.abs_send_time = (ntp >> 14) & 0x00FFFFFF
        extensions.audio_level = packet.extensions.audio_level
        self._history[seq % RTP_HISTORY_SIZE] = out
        data = out.serialize(self._extensions_map)
        sender: Any = self._sender  # its private counters (name-mangled) are written by name
        size = len(packet.payload)
        sender._RTCRtpSender__ntp_timestamp = ntp  # what the next Sender Report maps to this timestamp
        sender._RTCRtpSender__rtp_timestamp = timestamp
        sender._RTCRtpSender__octet_count += size
        sender._RTCRtpSender__packet_count += 1
        self.packets += 1
        self.bytes += size
        self.retransmits.sent(now, size)
        if packet.marker:
            self.frames += 1
        try:
            await sender.transport._send_rtp(data)
        except ConnectionError:
            pass  # DTLS not up (yet, or any more): the subscriber will ask for a keyframe

    async def _handle_rtcp_packet(self, packet: Any) -> None:
        if self._closed:
            return
        if isinstance(packet, RtcpPsfbPacket):
            if packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
                self.keyframe_requests_received += 1
                if self.repairs:
                    self.handler.on_keyframe_request()
                return
            if packet.fmt == RTCP_PSFB_APP:
                try:
                    bitrate, ssrcs = unpack_remb_fci(packet.fci)
                except ValueError:
                    return
                if self.ssrc in ssrcs:
                    self.remb_bps = bitrate
                    self.handler.on_remb(bitrate)
                return
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            self.nacks_received += len(packet.lost)
            if self.repairs:
                await self._retransmit(packet.lost)
            return
        if isinstance(packet, (RtcpRrPacket, RtcpSrPacket)) and any(r.ssrc == self.ssrc for r in packet.reports):
            self.report_since, self.report_at = self.report_at, time.monotonic()
        await self._original_rtcp(packet)  # reports (RTT, loss); NACKs are answered above, within the budget

    async def _retransmit(self, lost: list[int]) -> None:
        """Resend, over RTX from aiortc's history, what the budget allows of the packets a NACK names."""
        sender: Any = self._sender
        rtt: float | None = sender._RTCRtpSender__rtt
        now = time.monotonic()
        for seq in lost:
            kept = self._history.get(seq % RTP_HISTORY_SIZE)
            if kept is None or kept.sequence_number != seq:
                continue  # too old: no longer in the history
            if self.retransmits.allow(seq, len(kept.payload), now, rtt):
                await sender._retransmit(seq)

    async def stats(self) -> dict[str, Any]:
        budget = self.retransmits
        out: dict[str, Any] = {"packets": self.packets, "bytes": self.bytes, "frames": self.frames,
                               "keyframe_requests": self.keyframe_requests_received,
                               "nacks": self.nacks_received, "retransmitted": budget.resent,
                               "retransmits_refused": budget.refused_repeat + budget.refused_rate}
        if self.remb_bps is not None:
            out["remb_kbps"] = self.remb_bps // 1000
        report = await self._sender.getStats()
        for stat in report.values():
            if getattr(stat, "type", None) == "remote-inbound-rtp":
                if stat.roundTripTime is not None:
                    out["rtt_ms"] = round(stat.roundTripTime * 1000, 1)
                out["loss"] = round(stat.fractionLost / 256, 4)  # the last report's fraction, a raw byte
                out["packets_lost"] = max(0, stat.packetsLost)
                # the span the loss covers: from the report before (None: from the stream's start)
                out["loss_since"] = self.report_since
                out["jitter_ms"] = round(stat.jitter * 1000 / self._clock_rate, 2)
        return out
