"""The network part of the pre-call check, from Python: loopback media through the node's echo
endpoint, per-transport connectivity, and the server's verdict (docs/precall.md).

    result = await run_check("ws://127.0.0.1:8080/ws", token)
    print(result["verdict"], [f["code"] for f in result["findings"]])

or ``python -m rtserver.client.precall ws://HOST:PORT/ws --token TOKEN`` (prints the result as JSON).

The client publishes a synthetic camera (noise, so the encoder really sends its target bitrate)
and a tone, and receives them back. The node's capacity probe (``rtserver.precall.probe``, its
state in ``media_stats``) first lets the encoder run at 1.5 Mbit/s and reads what the uplink
carries, then holds it below that; the client meanwhile reads what came back (the downlink's
share). At the hold it measures over ``measure_s`` seconds: loss before any retransmission
repaired it (aiortc counts retransmissions on their own RTX stream, so the media stream's
counters are the raw ones) in each direction (the node's ``media_stats`` for the uplink; the
echo's loss, less the uplink's, for the downlink), RTT and jitter from RTCP, and the bitrates.
TURN servers the node hands out are probed one by one with a TURN allocation (aioice's client),
so each transport is reported. The whole check ends within ``CHECK_BUDGET_S``.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import json
import logging
import math
import os
import sys
import time
from collections.abc import Iterable
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from aioice.turn import create_turn_endpoint
from aiortc import (
    AudioStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame

from ..media.forwarder import HostAddresses, nominated_candidate_type, pin_host_addresses, receive_counters
from ..precall.probe import MAX_STEPS, PROBE_KBPS, PROBE_S, SATURATED_LOSS_PCT, WARMUP_S
from ..precall.verdict import evaluate
from ._client import Client, ClientClosed, ServerError

__all__ = ["check_network", "run_check"]

log = logging.getLogger(__name__)

CLOCK_RATES = {"audio": 48000, "video": 90000}
# The whole check stays within 15 s: TURN probes (2 s at most), connecting, first media, the
# capacity probe, then the window, shortened (to MIN_WINDOW_S at least) when the rest was slow;
# past the deadline the check ends with what it has.
CHECK_BUDGET_S = 15.0
# Kept back from the budget for leaving the echo room and the node's answer to precall_result.
CLOSING_S = 1.0
# The least the node's answer to precall_result is waited for, even when the check used its budget.
RESULT_MIN_WAIT_S = 0.5
TURN_PROBE_TIMEOUT_S = 2.0
# ICE and DTLS, over TURN or a lossy link too. On a link losing 30 % of packets a DTLS flight may
# need several retransmissions, each after a doubling timer (1, 2, 4 s): 10 s lets four through.
CONNECT_TIMEOUT_S = 10.0
FIRST_MEDIA_TIMEOUT_S = 1.0  # after connecting, until our own media comes back
MIN_WINDOW_S = 2.0
# Once the node holds the sender, what the probe put in the bottleneck's queue still drains, and
# the packets the queue dropped then show as gaps only when later ones arrive: measured from the
# first moment of the hold, a 500 kbit/s link read 3-16 % uplink loss that was the probe's own.
# The window starts once the node says the hold settled (``probe.settled_ms``: the video reaching
# it came down to the rate held), the browser check's rule; at most HOLD_SETTLE_MAX_S after the
# hold began (aiortc's encoder takes the REMB at once: settled at the first half-second step), and
# HOLD_SETTLE_S when the node gave no hold (its replies did not come), less when the budget is short.
HOLD_SETTLE_MAX_S = 2.5
HOLD_SETTLE_S = 1.0
# After a slow connection, the least left for the probe and the window together (a shorter window
# again when even that is not left: the check ends on time with what it has).
SHORTEST_MEASURE_S = 3.5
# The round trip comes from the node's receiver report answering one of our sender reports, and
# each side sends one every 0.5-1.5 s: the first can take 3 s after media starts, longer than a
# short window. After the window, wait this much more for it (within the budget) if none came.
RTT_WAIT_S = 2.0
NODE_STATS_TIMEOUT_S = 2.0
# The node's probe state is read this often while it runs (a media_stats request on the WebSocket).
PROBE_POLL_S = 0.25
# When no report of the hold has reached us this long after the node's probe must have ended (its
# WARMUP_S + PROBE_S from our first packets), the WebSocket is starved by the probe's own overflow:
# the node's replies wait behind a full bottleneck, TCP backs off, and the noise band, still sized
# for 1.5 Mbit/s, keeps the encoder far above whatever hold the REMB asks (a 500 kbit/s link once
# read 48 % uplink loss at 715 kbit/s for 9 s, then "not-ready"). The band then shrinks to the
# encoder's floor so that the encoder can obey the hold, the link drains, and the report comes.
PROBE_REPORT_GRACE_S = 1.0
# aiortc's VP8 encoder goes no lower than 250 kbit/s (aiortc.codecs.vpx.MIN_BITRATE): a hold below
# it cannot be obeyed, so the check stops its video there and measures the link with audio alone
# (aiortc's Opus takes about 120 kbit/s with its headers).
ENCODER_MIN_KBPS = 250
# What came back during the probe, as a share of what reached the node, under which the downlink is
# narrower than the uplink (echo_fits_downlink): random loss up to 20 % each way measured 0.95-0.98
# (retransmissions refill what it takes), 600 and 1000 kbit/s downlinks 0.34 and 0.57.
DOWNLINK_NARROWER_SHARE = 0.85
# What aiortc's transport counters leave out of each packet the link carried (IPv4 and UDP headers).
IP_UDP_BYTES = 28


class NoiseVideo(VideoStreamTrack):
    """Grey with a band of random pixels moving down: the band cannot be predicted from the last
    frame, so the encoder spends real bits, not the few bytes of a still picture. The band is sized
    for the rate asked (``set_rate``): noise is as costly at the encoder's coarsest quality, so a
    band filling 1.5 Mbit/s would keep a VP8 encoder asked for 300 kbit/s near 1 Mbit/s."""

    BAND = 16  # rows of noise per frame, until set_rate
    FPS = 30  # aiortc's VideoStreamTrack pace
    BYTES_PER_BIT = 1.5 / 8  # a random byte costs the encoder about 8 bits; 1.5x fills the rate asked

    def __init__(self, gate: asyncio.Event, width: int = 320, height: int = 240, *,
                 video_on: asyncio.Event | None = None):
        super().__init__()
        self._gate = gate
        self._video_on = video_on  # cleared: no frames (the hold asks for less than the encoder's floor)
        self._size = (width, height)
        self._row = 0
        self._band = self.BAND
        self._grey: list[bytes] = []  # each plane's grey picture, built on the first frame

    def set_rate(self, kbps: float) -> None:
        """Size the noise so that the encoder's rate control can meet ``kbps``."""
        width, height = self._size
        self._band = max(1, min(height // 2, round(kbps * 1000 * self.BYTES_PER_BIT / self.FPS / width)))

    async def recv(self) -> VideoFrame:
        await self._gate.wait()
        if self._video_on is not None:
            await self._video_on.wait()
        pts, time_base = await self.next_timestamp()
        width, height = self._size
        frame = VideoFrame(width, height, "yuv420p")
        if not self._grey:
            self._grey = [b"\x80" * plane.buffer_size for plane in frame.planes]
        luma = frame.planes[0]
        picture = bytearray(self._grey[0])
        band_rows = self._band
        self._row %= height - band_rows
        start = self._row * luma.line_size
        band = os.urandom(min(luma.line_size * band_rows, luma.buffer_size - start))
        picture[start:start + len(band)] = band
        luma.update(bytes(picture))
        for chroma, grey in zip(frame.planes[1:], self._grey[1:], strict=True):
            chroma.update(grey)
        self._row = (self._row + band_rows) % (height - band_rows)
        frame.pts, frame.time_base = pts, time_base
        return frame


def _tone(hz: int = 440, rate: int = 48000) -> bytes:
    """One second of a sine tone, 16-bit mono: whole cycles, so it loops without a click."""
    return array.array("h", (int(8000 * math.sin(2 * math.pi * hz * i / rate)) for i in range(rate))).tobytes()


class ToneAudio(AudioStreamTrack):
    """A 440 Hz tone at 48 kHz, 20 ms per frame."""

    _TONE = _tone()

    def __init__(self, gate: asyncio.Event) -> None:
        super().__init__()
        self._gate = gate
        self._at = 0

    async def recv(self) -> AudioFrame:
        await self._gate.wait()
        frame = cast(AudioFrame, await super().recv())  # silence, paced at real time, with pts (aiortc says Frame)
        size = frame.planes[0].buffer_size
        chunk = (self._TONE * 2)[self._at:self._at + size]
        self._at = (self._at + size) % len(self._TONE)
        frame.planes[0].update(chunk)
        return frame


# -- TURN ------------------------------------------------------------------------------------------
def turn_transport(url: str) -> str | None:
    """``turn-udp``, ``turn-tcp`` or ``turn-tls`` for a TURN URL, None for STUN."""
    scheme, _, rest = url.partition(":")
    if scheme not in ("turn", "turns"):
        return None
    query = parse_qs(rest.partition("?")[2])
    proto = query.get("transport", ["tcp" if scheme == "turns" else "udp"])[0]
    return "turn-tls" if scheme == "turns" else f"turn-{proto}"


def _turn_address(url: str) -> tuple[str, int]:
    scheme, _, rest = url.partition(":")
    parts = urlsplit(f"//{rest.partition('?')[0]}")
    return parts.hostname or "", parts.port or (5349 if scheme == "turns" else 3478)


async def probe_turn(url: str, username: str, credential: str, *, timeout_s: float = TURN_PROBE_TIMEOUT_S) -> bool:
    """Whether a TURN allocation through ``url`` succeeds within ``timeout_s``."""
    kind = turn_transport(url)
    if kind is None:
        return False
    ssl = True if kind == "turn-tls" else None
    try:
        async with asyncio.timeout(timeout_s):
            transport, _ = await create_turn_endpoint(asyncio.DatagramProtocol, _turn_address(url), username,
                                                      credential, lifetime=60, ssl=ssl,
                                                      transport="udp" if kind == "turn-udp" else "tcp")
    except Exception as exc:  # refused, timed out, wrong credentials: this transport does not work here
        log.info("TURN %s failed: %s", url, exc)
        return False
    transport.close()
    return True


def _urls(server: dict[str, Any]) -> list[str]:
    urls = server.get("urls")
    return [urls] if isinstance(urls, str) else list(urls or [])


def _turn_entries(ice_servers: list[dict[str, Any]]) -> Iterable[tuple[str, str, str, str]]:
    for server in ice_servers:
        for url in _urls(server):
            kind = turn_transport(url)
            if kind is not None:
                yield kind, url, server.get("username", ""), server.get("credential", "")


async def probe_transports(ice_servers: list[dict[str, Any]]) -> dict[str, bool | None]:
    entries = list(_turn_entries(ice_servers))
    found = await asyncio.gather(*(probe_turn(url, user, cred) for _, url, user, cred in entries))
    out: dict[str, bool | None] = {"turn-udp": None, "turn-tcp": None, "turn-tls": None}
    for (kind, *_), ok in zip(entries, found, strict=True):
        out[kind] = bool(out[kind]) or ok
    return out


# -- the loopback ----------------------------------------------------------------------------------
def _rtc_servers(ice_servers: list[dict[str, Any]]) -> list[RTCIceServer]:
    return [RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in ice_servers]


def _rtx_ssrcs(sdp: str) -> set[int]:
    out: set[int] = set()
    for line in sdp.splitlines():
        if line.startswith("a=ssrc-group:FID "):
            out.update(int(s) for s in line.split()[2:])
    return out


class InboundCounters:
    """Each received stream's cumulative (received, lost), the last values seen for it.

    The counters come from ``forwarder.receive_counters``, each SSRC apart and before
    retransmission. aiortc's ``getStats()`` reports every SSRC of a receiver under one id, so from
    the first retransmission on its RTX entry hides the video's: summing one report made a window's
    expected count negative (0 % loss on a 5 %-loss link in 1 check in 3), and keeping each
    stream's last values froze the video's, so the window counted the sound's 250 packets alone and
    a 5 %-loss link read under the 3 % warning line in 1 check in 8."""

    def __init__(self) -> None:
        self._last: dict[int, tuple[int, int]] = {}

    def update(self, ssrc: int, received: int, lost: int) -> None:
        self._last[ssrc] = (max(received, 0), max(lost, 0))

    def totals(self) -> tuple[int, int]:
        """(received, lost) over every stream seen so far."""
        return sum(r for r, _ in self._last.values()), sum(lost for _, lost in self._last.values())


class Loopback:
    """Our media to the echo room and back, with the counters to measure it."""

    def __init__(self, client: Client, room: str, ice_servers: list[dict[str, Any]],
                 host_addresses: HostAddresses | None):
        config = RTCConfiguration(iceServers=_rtc_servers(ice_servers))
        self.client, self.room = client, room
        self.publish = RTCPeerConnection(config)
        self.subscribe = RTCPeerConnection(config)
        self._hosts = host_addresses
        # Media waits until both connections are up: on a narrow link, our own video would otherwise
        # crowd out the second connection's ICE and DTLS handshake, which then never completes.
        self.sending = asyncio.Event()
        self.video_on = asyncio.Event()
        self.video_on.set()
        # 640x360: a band of noise big enough to fill the 1.5 Mbit/s the probe lets the encoder send.
        self.video = NoiseVideo(self.sending, 640, 360, video_on=self.video_on)
        self.video.set_rate(PROBE_KBPS)
        self._tracks: list[MediaStreamTrack] = [ToneAudio(self.sending), self.video]
        self._sinks: list[asyncio.Task[None]] = []
        self._rtx: set[int] = set()
        self._inbound = InboundCounters()
        self.media_back = asyncio.Event()
        self._answering: asyncio.Task[None] | None = None
        self.subscribe.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        async def drain() -> None:
            with contextlib.suppress(MediaStreamError):
                while True:
                    await track.recv()
                    if track.kind == "video":
                        self.media_back.set()
        self._sinks.append(asyncio.ensure_future(drain()))

    async def start(self) -> None:
        self._answering = asyncio.create_task(self._answer_offers())
        for track in self._tracks:
            self.publish.addTrack(track)
        if self._hosts is not None:
            pin_host_addresses(self.publish, self._hosts)
        await self.publish.setLocalDescription(await self.publish.createOffer())
        reply = await self.client.request("media_offer", room=self.room, sdp=self.publish.localDescription.sdp)
        await self.publish.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))

    async def _answer_offers(self) -> None:
        while True:
            offer = await self.client.next_event("media_offer", timeout=3600,
                                                 where=lambda e: e.get("room") == self.room)
            self._rtx |= _rtx_ssrcs(offer["sdp"])
            await self.subscribe.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
            if self._hosts is not None:
                pin_host_addresses(self.subscribe, self._hosts)
            await self.subscribe.setLocalDescription(await self.subscribe.createAnswer())
            await self.client.request("media_answer", room=self.room, sdp=self.subscribe.localDescription.sdp)

    async def connected(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s

        def up() -> bool:
            return self.publish.connectionState == "connected" and self.subscribe.connectionState == "connected"

        while not up():
            if time.monotonic() > deadline or "failed" in (self.publish.connectionState,
                                                           self.subscribe.connectionState):
                return False
            await asyncio.sleep(0.05)  # aiortc has no awaitable for "both connected"; polled, bounded
        return True

    def ice_connected(self) -> bool:
        """ICE got through on both connections (even if DTLS then did not complete)."""
        return all(pc.iceConnectionState in ("connected", "completed") for pc in (self.publish, self.subscribe))

    async def _has_rtt(self) -> bool:
        return any(s.type == "remote-inbound-rtp" and s.roundTripTime is not None
                   for s in (await self.publish.getStats()).values())

    async def wait_for_rtt(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if await self._has_rtt():
                return
            await asyncio.sleep(0.1)  # receiver reports have no awaitable in aiortc; polled, bounded

    async def sample(self, timeout_s: float = NODE_STATS_TIMEOUT_S) -> dict[str, Any]:
        """Cumulative counters now: ours (getStats) and, when it answers in time, the node's."""
        sent_bytes = recv_bytes = 0
        rr_received = rr_lost = 0
        jitters: list[float] = []
        rtts: list[float] = []
        for stats in (await self.publish.getStats()).values():
            if stats.type == "outbound-rtp":
                sent_bytes += stats.bytesSent
            elif stats.type == "remote-inbound-rtp":  # the node's receiver reports about our media
                rr_received += max(stats.packetsReceived, 0)
                rr_lost += max(stats.packetsLost, 0)
                if stats.roundTripTime is not None:
                    rtts.append(stats.roundTripTime * 1000)
        for stats in (await self.subscribe.getStats()).values():
            if stats.type == "transport":  # aiortc counts received bytes per transport only (RTCP included)
                recv_bytes += stats.bytesReceived
            elif stats.type == "inbound-rtp" and stats.ssrc not in self._rtx:
                jitters.append(stats.jitter / CLOCK_RATES.get(stats.kind, 90000) * 1000)
        for ssrc, (received, lost) in receive_counters(self.subscribe).items():
            if ssrc not in self._rtx:  # each stream before retransmission: the video's too
                self._inbound.update(ssrc, received, lost)
        down_received, down_lost = self._inbound.totals()
        sample = {"t": time.monotonic(), "sent_bytes": sent_bytes, "recv_bytes": recv_bytes,
                  "down_expected": down_received + down_lost, "down_lost": down_lost,
                  "up_expected": rr_received + rr_lost, "up_lost": rr_lost, "up_bytes": None,
                  "up_packets": None, "jitter_ms": jitters, "rtt_ms": rtts, "probe": None, "node": False}
        # The node's own view is better (it counts what arrived, report or not), but it travels on
        # the WebSocket, which a saturated link can hold up: then the receiver reports are used.
        try:
            node = await asyncio.wait_for(self.client.request("media_stats", room=self.room), timeout_s)
        except (TimeoutError, ServerError):
            return sample
        sample["node"] = True
        sample["probe"] = node.get("probe") if isinstance(node.get("probe"), dict) else None
        published = node["participants"][0].get("published", []) if node.get("participants") else []
        if published:
            sample.update(up_expected=sum(t.get("packets_expected", 0) for t in published),
                          up_lost=sum(max(t.get("packets_lost", 0), 0) for t in published),
                          up_bytes=sum(t.get("bytes", 0) for t in published),
                          up_packets=sum(t.get("packets", 0) for t in published))
            jitters += [t["jitter_ms"] for t in published if t.get("jitter_ms") is not None]
        return sample

    async def probe_phase(self, deadline: float) -> tuple[dict[str, Any] | None, dict[str, Any], dict[str, Any]]:
        """Wait (until ``deadline``, monotonic) for the node's probe to reach its hold. Returns its
        report (None if the node has none), and the samples taken when it started and at the hold."""
        shrink_at: float | None = time.monotonic() + WARMUP_S + PROBE_S + PROBE_REPORT_GRACE_S
        first = last = await self.sample(timeout_s=_left(deadline))
        while time.monotonic() < deadline:
            probe = last["probe"]
            if (last["node"] and probe is None) or (probe is not None and probe.get("phase") == "holding"):
                break  # a node without a probe (a missed reply is not one), or the hold
            if shrink_at is not None and time.monotonic() >= shrink_at:
                self.video.set_rate(ENCODER_MIN_KBPS)  # no report yet: let the encoder obey the hold
                shrink_at = None
            await asyncio.sleep(PROBE_POLL_S)  # the node's state has no event; polled, bounded
            last = await self.sample(timeout_s=_left(deadline))
            if last["node"] and (first["probe"] is None or first["probe"].get("phase") == "waiting"):
                # The probe starts with the first packets the node sees. A node that does not answer
                # (its replies share a downlink the echo fills) leaves the first sample in place.
                first = last
        return last["probe"], first, last

    async def hold_settled(self, until: float, deadline: float) -> dict[str, Any]:
        """The first sample once the node says its hold settled (``probe.settled_ms``), or the one
        at ``until`` (monotonic) without that; each wait for the node bounded by ``deadline``."""
        while True:
            sample = await self.sample(timeout_s=_left(deadline))
            probe = sample["probe"]
            if (probe is not None and probe.get("settled_ms") is not None) or time.monotonic() >= until:
                return sample
            await asyncio.sleep(PROBE_POLL_S)  # the node's state has no event; polled, bounded

    async def close(self) -> None:
        if self._answering is not None:
            self._answering.cancel()
        for task in self._sinks:
            task.cancel()
        for track in self._tracks:
            track.stop()
        await asyncio.gather(self.publish.close(), self.subscribe.close(), *self._sinks, return_exceptions=True)
        if self._answering is not None:
            await asyncio.gather(self._answering, return_exceptions=True)


def _left(deadline: float) -> float:
    """How long a wait for the node may last: NODE_STATS_TIMEOUT_S at most, what is left until
    ``deadline`` (monotonic), and 0.2 s at least (a reply already on its way)."""
    return min(NODE_STATS_TIMEOUT_S, max(0.2, deadline - time.monotonic()))


def _ratio(lost: int, expected: int) -> float:
    """Percent of ``expected`` lost, within 0..100. A window's ``lost`` can be negative: a packet
    counted lost and then arriving late (a jittery link reorders) lowers the cumulative count."""
    return 0.0 if expected <= 0 else max(0.0, min(100.0, 100.0 * lost / expected))


def downlink_loss_pct(echo_pct: float, up_pct: float) -> float:
    """The downlink's own loss: what came back lost ``echo_pct`` in all, the uplink ``up_pct`` of it
    (a packet lost on the way up leaves a gap in what the node forwards, which the client counts)."""
    if up_pct >= 100.0:
        return 0.0
    return max(0.0, min(100.0, 100.0 * (1 - (1 - echo_pct / 100) / (1 - up_pct / 100))))


def probe_measurements(probe: dict[str, Any] | None, first: dict[str, Any], last: dict[str, Any]) -> dict[str, Any]:
    """The capacity figures from the node's probe report and the samples taken while it ran.

    The uplink's is the node's. The downlink carried what the node forwarded of it: when it lost
    little of that beyond the uplink's own loss (under SATURATED_LOSS_PCT), it is at least as wide
    as the uplink; otherwise it was the narrower way, and what came back is its capacity."""
    seconds = max(last["t"] - first["t"], 1e-3)
    received = (last["down_expected"] - last["down_lost"]) - (first["down_expected"] - first["down_lost"])
    back = (last["recv_bytes"] - first["recv_bytes"] + IP_UDP_BYTES * received) * 8 / seconds / 1000
    echo = _ratio(last["down_lost"] - first["down_lost"], last["down_expected"] - first["down_expected"])
    up_loss = _ratio(last["up_lost"] - first["up_lost"], last["up_expected"] - first["up_expected"])
    narrower = downlink_loss_pct(echo, up_loss) >= SATURATED_LOSS_PCT
    if probe is None or probe.get("capacity_kbps") is None:
        # The node's report did not come (its replies travel the downlink the echo floods: a 150
        # kbit/s downlink) or it has no probe: what came back is still the downlink's when it lost.
        return {"capacity_down_kbps": round(back)} if narrower and last["t"] > first["t"] else {}
    up = probe["capacity_kbps"]
    steps = [{k: s.get(k) for k in ("at_ms", "kbps", "recv_kbps", "loss_pct", "queue_ms")}
             for s in probe.get("steps", [])[:MAX_STEPS] if isinstance(s, dict)]
    return {"capacity_up_kbps": up, "capacity_down_kbps": round(back if narrower else max(back, up)),
            "probe": {"saturated_up": bool(probe.get("saturated")), "saturated_down": narrower,
                      "hold_kbps": probe.get("hold_kbps"), "duration_ms": probe.get("probe_ms"), "steps": steps}}


def echo_fits_downlink(capacity: dict[str, Any], hold_kbps: float, audio_kbps: float | None) -> bool:
    """Whether the echo of the rate held (``hold_kbps`` of video and the sound) fits the downlink.

    The node holds the sender below the *uplink*'s capacity; the echo comes back at that rate, so on
    a downlink much narrower than the uplink (600 kbit/s down, 1.6 Mbit/s up) the window would
    measure the check's own overflow as 20 % loss. Then the window measures with sound alone
    (about 120 kbit/s with aiortc's Opus, within any downlink that could carry video), and the
    capacity found during the probe stays the downlink's. A downlink counts as narrower only when
    what came back during the probe was under DOWNLINK_NARROWER_SHARE of what reached the node:
    random loss takes little off it (retransmissions refill it: 0.95-0.98 at 5-20 % loss each
    way), a bottleneck takes the rest (0.57 on a 1000 kbit/s downlink, 0.34 on 600)."""
    up, down = capacity.get("capacity_up_kbps"), capacity.get("capacity_down_kbps")
    if up is None or down is None or not capacity.get("probe", {}).get("saturated_down"):
        return True
    return down >= DOWNLINK_NARROWER_SHARE * up or down >= hold_kbps + (audio_kbps or 0)


def network_measurements(first: dict[str, Any], last: dict[str, Any], transport: str | None) -> dict[str, Any]:
    """The ``network`` section from two samples taken at the hold, ``measure_s`` apart."""
    seconds = max(last["t"] - first["t"], 1e-3)
    up = _ratio(last["up_lost"] - first["up_lost"], last["up_expected"] - first["up_expected"])
    echo = _ratio(last["down_lost"] - first["down_lost"], last["down_expected"] - first["down_expected"])
    down = downlink_loss_pct(echo, up)
    rtts = last["rtt_ms"] or first["rtt_ms"]
    # What reached the node, when it said (a capped link drops the rest), else what we sent.
    node_bytes = (first["up_bytes"] is not None and last["up_bytes"] is not None)
    sent = last["up_bytes"] - first["up_bytes"] if node_bytes else last["sent_bytes"] - first["sent_bytes"]
    return {"connected": True, "transport": transport,
            "rtt_ms": round(max(rtts), 1) if rtts else None,
            "jitter_ms": round(max(last["jitter_ms"]), 1) if last["jitter_ms"] else None,
            "loss_pct": round(max(up, down), 2), "loss_up_pct": round(up, 2), "loss_down_pct": round(down, 2),
            "loss_echo_pct": round(echo, 2),
            "send_kbps": round(sent * 8 / seconds / 1000),
            "recv_kbps": round((last["recv_bytes"] - first["recv_bytes"]) * 8 / seconds / 1000),
            "duration_ms": round(seconds * 1000)}


def _loopback_servers(ice_servers: list[dict[str, Any]], works: dict[str, bool | None]) -> tuple[
        list[dict[str, Any]], str | None]:
    """STUN servers, plus the one TURN URL to use (aiortc takes only one): the first transport
    whose probe worked, UDP before TCP before TLS. Returns the servers and that transport."""
    servers = [s for s in ice_servers if all(turn_transport(u) is None for u in _urls(s))]
    for kind in ("turn-udp", "turn-tcp", "turn-tls"):
        if works.get(kind):
            entry = next((k, url, user, cred) for k, url, user, cred in _turn_entries(ice_servers) if k == kind)
            servers.append({"urls": [entry[1]], "username": entry[2], "credential": entry[3]})
            return servers, kind
    return servers, None


async def check_network(client: Client, *, measure_s: float = 5.0,
                        host_addresses: HostAddresses | None = None) -> dict[str, Any]:
    """Measurements (``network`` and ``transports``) over a connected client; stores nothing."""
    started = time.monotonic()
    room = f"precall:{client.hello['user']}"
    joined = await client.request("media_join", room=room)
    ice_servers = joined.get("ice_servers", [])
    transports = await probe_transports(ice_servers)  # all at once, TURN_PROBE_TIMEOUT_S at most
    servers, relay_kind = _loopback_servers(ice_servers, transports)
    loopback = Loopback(client, room, servers, host_addresses)
    network: dict[str, Any] = {"connected": False, "transport": None}
    udp = False
    try:
        await loopback.start()
        # Connecting leaves the probe and a short window their time within the budget.
        connect_s = min(CONNECT_TIMEOUT_S, started + CHECK_BUDGET_S - CLOSING_S - SHORTEST_MEASURE_S - time.monotonic())
        connected = await loopback.connected(max(connect_s, 1.0))
        # Packets may pass (ICE checks succeeded) while media could not be set up in time: then the
        # network is bad, not blocked, and the verdict says media failed rather than "blocked".
        if connected or loopback.ice_connected():
            relayed = nominated_candidate_type(loopback.publish) == "relay"
            udp = not relayed  # host pairs outrank relayed ones: a relayed pair means direct UDP failed
            network = {"connected": False, "transport": relay_kind if relayed else "udp"}
        if connected:
            loopback.sending.set()
            deadline = started + CHECK_BUDGET_S - CLOSING_S
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FIRST_MEDIA_TIMEOUT_S):
                    await loopback.media_back.wait()
            # The probe, while leaving the hold's window at least MIN_WINDOW_S (and its RTT wait).
            probe, probe_first, first = await loopback.probe_phase(deadline - MIN_WINDOW_S - 0.5)
            hold = probe.get("hold_kbps") if probe is not None else None
            capacity = probe_measurements(probe, probe_first, first)
            if isinstance(hold, int | float):
                assert probe is not None
                loopback.video.set_rate(hold)
                if hold < ENCODER_MIN_KBPS or not echo_fits_downlink(capacity, hold, probe.get("audio_kbps")):
                    loopback.video_on.clear()
            elif "capacity_down_kbps" in capacity:
                loopback.video_on.clear()  # no hold known, and the echo overflowed the downlink: sound alone
            if isinstance(hold, int | float) or not loopback.video_on.is_set():
                # The window starts at the rate held, once the hold settled (HOLD_SETTLE_MAX_S). Every
                # wait for the node is bounded by the deadline: its replies may not come at all on a
                # flooded downlink (an 80 kbit/s downlink's check took 16.7 s with 2 s waits here and
                # when leaving).
                settle_s = HOLD_SETTLE_MAX_S if isinstance(hold, int | float) else HOLD_SETTLE_S
                until = min(time.monotonic() + settle_s, deadline - MIN_WINDOW_S - 0.5)
                first = await loopback.hold_settled(until, deadline - MIN_WINDOW_S)
            await asyncio.sleep(max(1.0, min(measure_s, deadline - time.monotonic() - 0.5)))
            await loopback.wait_for_rtt(min(RTT_WAIT_S, deadline - time.monotonic()))
            last = await loopback.sample(timeout_s=_left(deadline))
            network = {**network_measurements(first, last, network["transport"]), **capacity}
    finally:
        await loopback.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.request("media_leave", room=room),
                                   _left(started + CHECK_BUDGET_S - CLOSING_S / 2))
    return {"client": {"kind": "python", "user_agent": f"rtserver-python/{sys.version.split()[0]}"},
            "network": network,
            "transports": {"udp": udp, **transports,
                           "turn_configured": any(v is not None for v in transports.values())},
            "duration_ms": round((time.monotonic() - started) * 1000)}


async def submit_result(client: Any, measurements: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """The node's result for ``measurements`` (stored), or, when its answer does not come within
    ``timeout_s`` (the WebSocket shares the link the check just measured: on an 80 kbit/s downlink
    or a 600 ms round trip it can lag by seconds) or the connection is gone, the same verdict
    computed here (``rtserver.precall.verdict.evaluate``, the node's own function), with
    ``"stored": false``: a check always ends with a result. A refusal (``ServerError``) is raised."""
    try:
        reply = await asyncio.wait_for(client.request("precall_result", measurements=measurements), timeout_s)
    except (TimeoutError, ConnectionError, ClientClosed) as exc:
        log.warning("precall_result got no answer (%s): the verdict is computed locally, not stored",
                    type(exc).__name__)
        return {**evaluate(measurements), "stored": False}
    result: dict[str, Any] = reply["result"]
    return result


async def run_check(url: str, token: str, *, measure_s: float = 5.0,
                    host_addresses: HostAddresses | None = None) -> dict[str, Any]:
    """Connect, measure, and store the check; returns the server's result (verdict, findings, ...),
    within CHECK_BUDGET_S of connecting (see ``submit_result``)."""
    async with Client(url, token=token, reconnect=False, request_timeout_s=CHECK_BUDGET_S) as client:
        started = time.monotonic()
        measurements = await check_network(client, measure_s=measure_s, host_addresses=host_addresses)
        left = started + CHECK_BUDGET_S - time.monotonic()
        return await submit_result(client, measurements, max(left, RESULT_MIN_WAIT_S))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rtserver.client.precall",
                                     description="Run the network part of the pre-call check; print the result.")
    parser.add_argument("url", help="the node's WebSocket URL, e.g. ws://127.0.0.1:8080/ws")
    parser.add_argument("--token", required=True, help="a token for the user who runs the check")
    parser.add_argument("--measure-s", type=float, default=5.0, help="seconds of loopback measured (default 5)")
    args = parser.parse_args(argv)
    result = asyncio.run(run_check(args.url, args.token, measure_s=args.measure_s))
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["verdict"] != "not-ready" else 1


if __name__ == "__main__":
    sys.exit(main())

