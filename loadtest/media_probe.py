"""Measuring forwarded media at the RTP level, in the load process: nothing is decoded.

How a packet is recognised on both sides: the SFU forwards each RTP payload unchanged (it
rewrites SSRC, sequence number and timestamp, never the payload), and every payload of a stream
is distinct: VP8 payloads start with a descriptor carrying the frame's 15-bit picture id (new
for every frame, for 18 minutes at 30 fps), and the looped Opus packets differ from one another
(``media_clip``). So the publisher notes the time it hands each packet to its DTLS transport,
keyed by a hash of the payload, and the subscriber, in the same process and on the same clock,
looks the payload up when the packet arrives. That difference is the forwarding latency: the
server's work plus two loopback hops, SRTP on both ends and the load process's own scheduling
(so it is an upper bound of what the server adds). The same keys give loss: of the packets a
publisher sent within the measured window, which ones reached the subscriber (retransmissions
included), nothing else counted.

A decode/re-encode relay changes every payload, so through it only frame rate and the
subscriber's sequence-number loss are measured.

aiortc internals used here (as ``rtserver.media.forwarder`` does for the server): the DTLS
transport's ``_send_rtp`` (wrapped to stamp sends) and the sender's ``_handle_rtcp_packet``
(wrapped to see keyframe requests). Receiving goes through ``rtserver.media.forwarder.Inbound``,
which taps the receiver before its decoder.
"""

from __future__ import annotations

import contextlib
import itertools
import struct
import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCPeerConnection
from aiortc.codecs import HEADER_EXTENSIONS
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import RTCP_PSFB_FIR, RTCP_PSFB_PLI, HeaderExtensionsMap, RtcpPsfbPacket, RtpPacket, is_rtcp

from rtserver.media.twcc import TRANSPORT_CC_URI

from .stats import BUCKETS, bucket_of, sparse

__all__ = ["SendStamps", "StreamMeter", "Window", "number_packets", "offer_transport_cc", "on_keyframe_request",
           "rtp_payload", "stamp_sends"]

KEEP_STAMPS_S = 2.0  # a packet not seen within this long counts as lost; latency above it is not matched


class Window:
    """The measured interval, wall-clock seconds, shared by every probe of a load process."""

    def __init__(self) -> None:
        self.start = float("inf")
        self.end = float("inf")

    def set(self, start: float, end: float) -> None:
        self.start, self.end = start, end

    def holds(self, t: float) -> bool:
        return self.start <= t < self.end


def rtp_payload(data: bytes) -> tuple[int, bool, bytes]:
    """(SSRC, marker, payload) of a serialized RTP packet as aiortc writes it (no padding)."""
    first = data[0]
    length = 12 + 4 * (first & 0x0F)
    if first & 0x10:  # header extension: 4 bytes, then its length in 32-bit words
        length += 4 + 4 * struct.unpack_from("!H", data, length + 2)[0]
    return struct.unpack_from("!I", data, 8)[0], bool(data[1] & 0x80), data[length:]


class SendStamps:
    """Send times of one publisher's packets, per kind, keyed by ``hash(payload)``.

    Two generations of dicts, swapped every ``KEEP_STAMPS_S``: lookups see the last 2-4 s of
    sends, and memory stays bounded however long the run.
    """

    def __init__(self, window: Window):
        self.window = window
        self.kinds: dict[int, str] = {}  # SSRC -> kind, filled in by ``stamp_sends``
        self._current: dict[str, dict[int, float]] = {"audio": {}, "video": {}}
        self._previous: dict[str, dict[int, float]] = {"audio": {}, "video": {}}
        self._swapped = time.time()
        self.sent = {"audio": 0, "video": 0}  # packets sent within the window
        self.frames_sent = 0  # video frames sent within the window

    def record(self, data: bytes) -> None:
        if len(data) < 12 or 192 <= data[1] <= 223:  # RTCP shares the transport (RFC 5761)
            return
        ssrc, marker, payload = rtp_payload(data)
        kind = self.kinds.get(ssrc)
        if kind is None:
            return  # retransmission (RTX) or probing: not a first send
        now = time.time()
        if now - self._swapped >= KEEP_STAMPS_S:
            self._previous, self._current = self._current, {"audio": {}, "video": {}}
            self._swapped = now
        self._current[kind][hash(payload)] = now
        if self.window.holds(now):
            self.sent[kind] += 1
            if marker and kind == "video":
                self.frames_sent += 1

    def sent_at(self, kind: str, payload: bytes) -> float | None:
        key = hash(payload)
        stamp = self._current[kind].get(key)
        return stamp if stamp is not None else self._previous[kind].get(key)


def stamp_sends(pc: RTCPeerConnection, stamps: SendStamps) -> None:
    """Record every RTP packet ``pc`` sends in ``stamps`` (call after its remote description is set)."""
    transports = []
    for transceiver in pc.getTransceivers():
        sender = transceiver.sender
        if sender.track is not None:
            stamps.kinds[sender._ssrc] = sender.track.kind
        if sender.transport is not None and all(t is not sender.transport for t in transports):
            transports.append(sender.transport)
    for transport in transports:
        if "_send_rtp" in vars(transport):
            continue
        original = transport._send_rtp

        async def send_rtp(data: bytes, original: Any = original) -> None:
            stamps.record(data)
            await original(data)

        transport._send_rtp = send_rtp


TRANSPORT_CC_ID = 5  # free in aiortc's offers (aiortc.codecs.HEADER_EXTENSIONS: ids 1-3)


def offer_transport_cc(sdp: str) -> str:
    """An aiortc offer as a browser's: the transport-wide sequence number and ``transport-cc``
    feedback in every section (aiortc offers neither)."""
    out = []
    for line in sdp.splitlines():
        out.append(line)
        if line.startswith("a=mid:"):
            out.append(f"a=extmap:{TRANSPORT_CC_ID} {TRANSPORT_CC_URI}")
        if line.startswith("a=rtpmap:") and "rtx/" not in line:
            out.append(f"a=rtcp-fb:{line.split(':', 1)[1].split()[0]} transport-cc")
    return "\r\n".join(out) + "\r\n"


def number_packets(pc: RTCPeerConnection) -> None:
    """Give every RTP packet ``pc`` sends the next transport-wide sequence number, as a browser
    does (aiortc's sender writes only the extensions it knows). Call after the answer is set."""
    # aiortc's own extensions (one id per URI across audio and video), and the transport-wide one
    known = {e.uri: e for kind in HEADER_EXTENSIONS.values() for e in kind}
    ids = RTCRtpParameters(headerExtensions=[
        *known.values(), RTCRtpHeaderExtensionParameters(id=TRANSPORT_CC_ID, uri=TRANSPORT_CC_URI)])
    extensions = HeaderExtensionsMap()
    extensions.configure(ids)
    counter = itertools.count()
    transports = {id(t.sender.transport): t.sender.transport for t in pc.getTransceivers()
                  if t.sender.transport is not None}
    for transport in transports.values():
        original = transport._send_rtp

        async def send_rtp(data: bytes, original: Any = original) -> None:
            if not is_rtcp(data):
                packet = RtpPacket.parse(data, extensions)
                packet.extensions.transport_sequence_number = next(counter) & 0xFFFF
                data = packet.serialize(extensions)
            await original(data)

        transport._send_rtp = send_rtp


def on_keyframe_request(pc: RTCPeerConnection, callback: Callable[[], None]) -> None:
    """Call ``callback`` when the far end asks ``pc``'s video sender for a keyframe (PLI or FIR)."""
    for transceiver in pc.getTransceivers():
        sender = transceiver.sender
        if transceiver.kind != "video" or "_handle_rtcp_packet" in vars(sender):
            continue
        original = sender._handle_rtcp_packet

        async def handle(packet: Any, original: Any = original) -> None:
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
                callback()
            await original(packet)

        sender._handle_rtcp_packet = handle


class StreamMeter:
    """One subscribed stream (a publisher's audio or video, as one subscriber receives it).

    An ``InboundHandler`` for ``rtserver.media.forwarder.Inbound``: called with each RTP packet
    as it arrives, undecoded. ``source`` is the publisher's ``SendStamps`` (None: payloads are
    not comparable, as through a re-encoding relay).
    """

    def __init__(self, kind: str, publisher: str, window: Window, source: SendStamps | None,
                 on_first_packet: Callable[[], None] | None = None):
        self.kind = kind
        self.on_first_packet = on_first_packet
        self.publisher = publisher
        self.window = window
        self.source = source
        self.packets = 0  # every packet, retransmissions included
        self.frames = 0  # video frames (marker bits) arriving within the window; audio: packets
        # (payload hash, send time) of the packets sent within the window that arrived: the send
        # time tells apart the rounds of a looped payload, and a retransmission adds nothing new.
        self.received_keys: set[tuple[int, float]] = set()
        self.latency = [0] * BUCKETS  # microseconds, packets sent within the window (first sends only)
        self.matched = 0
        self.max_gap_s = 0.0  # longest wait between frames (audio: packets) within the window
        self._last_frame: float | None = None

    async def on_packet(self, packet: RtpPacket, retransmitted: bool, arrival_ntp: int) -> None:
        now = time.time()
        self.packets += 1
        if self.packets == 1 and self.on_first_packet is not None:
            self.on_first_packet()
        window = self.window
        if self.source is not None:
            sent = self.source.sent_at(self.kind, packet.payload)
            if sent is not None and window.holds(sent):
                self.received_keys.add((hash(packet.payload), sent))
                if not retransmitted:
                    self.latency[bucket_of((now - sent) * 1e6)] += 1
                    self.matched += 1
        if retransmitted or not window.holds(now):
            return
        if self.kind == "audio" or packet.marker:
            self.frames += 1
            if self._last_frame is not None:
                self.max_gap_s = max(self.max_gap_s, now - self._last_frame)
            self._last_frame = now

    def on_uplink_estimate(self, bitrate_bps: int) -> None:
        pass  # the load side's publishers send their loop as it is: no bandwidth adaptation

    def result(self, inbound_stats: tuple[dict[str, Any], dict[str, Any]] | None) -> dict[str, Any]:
        """This stream's figures for the window; ``inbound_stats``: the Inbound's stats at its start and end."""
        duration = self.window.end - self.window.start
        out: dict[str, Any] = {"kind": self.kind, "publisher": self.publisher,
                               "rate": round(self.frames / duration, 2) if duration > 0 else None,
                               "max_gap_ms": round(self.max_gap_s * 1000, 1), "latency": sparse(self.latency)}
        if self.source is not None:
            sent = self.source.sent[self.kind]
            out.update(sent=sent, received=len(self.received_keys),
                       sent_rate=round((self.source.frames_sent if self.kind == "video" else sent) / duration, 2))
        if inbound_stats is not None:
            before, after = inbound_stats
            with contextlib.suppress(KeyError):
                out["seq_expected"] = after["packets_expected"] - before.get("packets_expected", 0)
                out["seq_lost"] = max(0, after["packets_lost"] - before.get("packets_lost", 0))
            out["nacks_sent"] = after.get("nacks_sent", 0) - before.get("nacks_sent", 0)
            out["retransmissions"] = after.get("retransmissions", 0) - before.get("retransmissions", 0)
        return out
