"""One participant of a calibration interview (``python -m loadtest.calibrate_peer``), run as its own
process: the jobseeker's inside the client namespace, the advisor's in the root namespace.

It joins the interview room, publishes a camera-like video (320x240 at 30 fps, a moving band of
noise the encoder cannot predict: 0.5-1 Mbit/s when unconstrained, like a webcam at that size) and
a tone, subscribes to the other participant, decodes everything, and measures what it receives in
a window fixed on the wall clock (``--start-at`` + ``--warmup-s``, for ``--window-s``) so that both
participants measure the same seconds. It prints one JSON object: per publisher, the video frames
decoded in each second of the window, the longest gap between two decoded frames (a freeze), the
audio packets lost in the window as the receiver counts them by sequence number (``audio_loss``),
and what it sent.

Like a page, it sends ``media_report`` every ``report_every_ms`` (``media_joined``; 2 s from a node
that gives none) from what it decodes (``peer_reports.ReportWindow``, shared with the tests' peers),
and obeys ``media_fallback`` ``send`` about itself: its camera stops producing frames (its encoder
then sends nothing, as a browser's inactive encoding) until told to send again. It records every
``media_fallback`` of the room (time from ``--start-at``, user, direction, video, reason), printing
each as a line ``event {...}`` when it arrives (a test can act on it), the reports sent and
refused, and its audio counters each second (``audio_timeline``: loss over any part of the call).

It sends like Chromium rather than like aiortc (``browser_sender``): Chromium's VP8 floor (30
kbit/s, aiortc's is 250), start rate (300 kbit/s) and Opus rate (32 kbit/s, aiortc's is 96), and
its video rate driven by Chromium's loss-based congestion control (``send_rate``) under the node's
REMB, where aiortc's sender sends whatever the REMB asks: an aiortc sender overfilled any link
under about 1.5 Mbit/s, on which a browser holds. The rate each second is in the result
(``send_rate``: [s, target kbit/s, loss %, REMB kbit/s]).

With TURN servers in ``media_join``'s ``ice_servers``, the first TURN URL that allocates (UDP, then
TCP, then TLS: aiortc takes a single TURN server) is used alongside host candidates, as a browser
would use them: ICE still prefers the direct path when it works.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import itertools
import json
import math
import os
import statistics
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from aioice.turn import create_turn_endpoint
from aiortc import (
    AudioStreamTrack,
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame, VideoFrame

from rtserver.client import Client
from rtserver.media.forwarder import HostAddresses, new_peer_connection, pin_host_addresses

from .browser_sender import RateControlledSender, encode_like_a_browser
from .pausable_video import PausableVideoTrack
from .peer_reports import ReportWindow
from .send_rate import RateLimits

__all__ = ["AUDIO_FRAMES_PER_S", "audio_loss", "main", "summarise_video"]

AUDIO_FRAMES_PER_S = 50  # Opus at 20 ms a frame
TURN_PROBE_TIMEOUT_S = 2.0
CLOSE_TIMEOUT_S = 3.0
TURN_ORDER = ("udp", "tcp", "tls")


class CameraTrack(PausableVideoTrack):
    """320x240 grey with a 16-row band of fresh noise moving down each frame (see the module's doc)."""

    BAND = 16

    def __init__(self, width: int = 320, height: int = 240):
        super().__init__()
        self._size = (width, height)
        self._row = 0

    async def recv(self) -> VideoFrame:
        await self.wait_sending()
        pts, time_base = await self.next_timestamp()
        width, height = self._size
        frame = VideoFrame(width, height, "yuv420p")
        luma = frame.planes[0]
        picture = bytearray(b"\x80" * luma.buffer_size)
        start = self._row * luma.line_size
        band = os.urandom(min(luma.line_size * self.BAND, luma.buffer_size - start))
        picture[start:start + len(band)] = band
        luma.update(bytes(picture))
        for chroma in frame.planes[1:]:
            chroma.update(b"\x80" * chroma.buffer_size)
        self._row = (self._row + self.BAND) % (height - self.BAND)
        frame.pts, frame.time_base = pts, time_base
        return frame


class ToneTrack(AudioStreamTrack):
    """A 440 Hz tone, 20 ms a frame, in the 8 kHz mono frames of aiortc's silence track (which paces
    them at real time): silence would not prove audio got through."""

    _TONE = array.array("h", (int(8000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(8000))).tobytes()

    def __init__(self) -> None:
        super().__init__()
        self._at = 0

    async def recv(self) -> AudioFrame:
        frame = await super().recv()
        size = frame.planes[0].buffer_size
        frame.planes[0].update((self._TONE * 2)[self._at:self._at + size])
        self._at = (self._at + size) % len(self._TONE)
        return frame


def summarise_video(times: list[float], start: float, end: float) -> dict[str, Any]:
    """Frames decoded at ``times`` (seconds, any order), over [start, end): frames per second of each
    whole second, their median and minimum, and the longest wait without a new frame (from the window's
    start to the first frame and from the last one to its end included: no frame at all is one freeze)."""
    inside = sorted(t for t in times if start <= t < end)
    seconds = max(1, int(end - start))
    per_s = [0] * seconds
    for t in inside:
        per_s[min(seconds - 1, int(t - start))] += 1
    edges = [start, *inside, end]
    gap = max(b - a for a, b in itertools.pairwise(edges))
    return {"frames": len(inside), "fps": per_s, "median_fps": statistics.median(per_s), "min_fps": min(per_s),
            "max_gap_ms": round(gap * 1000)}


def audio_loss(received: int, lost: int, seconds: float) -> dict[str, Any]:
    """Audio over a window from the receiver's packet counters: the share lost, or, when under half of
    the 50 packets a second sent arrived at all (a stalled stream loses no sequence numbers), the
    share missing against those 50 a second."""
    flow = received / max(1.0, AUDIO_FRAMES_PER_S * seconds)
    loss = lost / (received + lost) if received + lost else 1.0
    if flow < 0.5:
        loss = max(loss, 1 - flow)
    return {"packets": received, "lost": lost, "flow": round(flow, 3), "loss": round(max(0.0, loss), 3)}


def _turn_entries(ice_servers: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(transport, url, username, credential) of each TURN URL, in the order a browser tries them."""
    entries = []
    for server in ice_servers:
        urls = server.get("urls", [])
        for url in [urls] if isinstance(urls, str) else urls:
            if not url.startswith(("turn:", "turns:")):
                continue
            query = urlsplit(url.replace(":", "://", 1)).query
            kind = "tls" if url.startswith("turns:") else ("tcp" if "transport=tcp" in query else "udp")
            entries.append((kind, url, server.get("username", ""), server.get("credential", "")))
    return sorted(entries, key=lambda e: TURN_ORDER.index(e[0]))


async def _allocates(url: str, username: str, credential: str, kind: str) -> bool:
    host, _, port = url.split(":", 1)[1].split("?")[0].rpartition(":")
    try:
        transport, _ = await asyncio.wait_for(create_turn_endpoint(
            asyncio.DatagramProtocol, server_addr=(host, int(port)), username=username, password=credential,
            transport="tcp" if kind != "udp" else "udp", ssl=kind == "tls"), TURN_PROBE_TIMEOUT_S)
    except Exception:  # the probe's answer is whether it allocated
        return False
    transport.close()
    return True


async def choose_turn(ice_servers: list[dict[str, Any]]) -> tuple[str | None, list[RTCIceServer]]:
    for kind, url, username, credential in _turn_entries(ice_servers):
        if await _allocates(url, username, credential, kind):
            return kind, [RTCIceServer(urls=url, username=username, credential=credential)]
    return None, []


class Peer:
    def __init__(self, client: Client, room: str, hosts: HostAddresses | None):
        self.client, self.room, self.hosts = client, room, hosts
        self.config: list[RTCIceServer] = []
        self.publish: RTCPeerConnection | None = None
        self.subscribe: RTCPeerConnection | None = None
        self.sections: dict[str, dict[str, Any]] = {}
        self.decoded: dict[tuple[str, str], list[float]] = {}  # (publisher, kind) -> decode times (wall clock)
        self.tracks: list[MediaStreamTrack] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.errors: list[str] = []
        self.start_at = time.time()  # event times are given from here (the call's --start-at)
        self.sending_video = True  # what media_fallback send last said about this peer
        self.fallbacks: list[dict[str, Any]] = []  # every media_fallback of the room, t from start_at
        self.reports: dict[str, Any] = {"sent": 0, "refused": 0}
        self.audio_timeline: dict[str, list[list[float]]] = {}  # publisher -> [t, received, lost] each second
        self.video_rate: RateControlledSender | None = None

    def _pc(self) -> RTCPeerConnection:
        return RTCPeerConnection(RTCConfiguration(iceServers=self.config)) if self.config else new_peer_connection()

    async def start(self) -> None:
        self.tasks.append(asyncio.create_task(self._pump()))
        self.publish = self._pc()
        self.tracks = [ToneTrack(), CameraTrack()]
        for track in self.tracks:
            sender = self.publish.addTrack(track)
            if track.kind == "video":
                self.video_rate = RateControlledSender(sender)
        if self.hosts is not None:
            pin_host_addresses(self.publish, self.hosts)
        await self.publish.setLocalDescription(await self.publish.createOffer())
        reply = await self.client.request("media_offer", room=self.room, sdp=self.publish.localDescription.sdp)
        await self.publish.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))

    async def _pump(self) -> None:
        """Every event of the room: offers answered, ``media_fallback`` recorded (and obeyed when it
        is ``send`` about this peer: its camera stops or resumes, as a page sets its encoding active)."""
        async for event in self.client.events():
            if event.get("room") != self.room:
                continue
            if event.get("type") == "media_offer":
                await self._answer(event)
            elif event.get("type") == "media_fallback":
                self.fallbacks.append({"t": round(time.time() - self.start_at, 2),
                                       **{k: event.get(k) for k in ("user", "direction", "video", "reason")}})
                print("event " + json.dumps(self.fallbacks[-1]), flush=True)  # for a test that acts on it
                if event.get("user") == self.client.hello["user"] and event.get("direction") == "send":
                    self.sending_video = bool(event.get("video"))
                    (self.camera.sending.set if self.sending_video else self.camera.sending.clear)()

    async def _answer(self, offer: dict[str, Any]) -> None:
        try:
            if offer.get("restart") or self.subscribe is None:
                if self.subscribe is not None:
                    await self.subscribe.close()
                self.subscribe = self._pc()
                self.subscribe.on("track", self._on_track)
            self.sections = {s["mid"]: s for s in offer.get("tracks", [])}
            await self.subscribe.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
            if self.hosts is not None:
                pin_host_addresses(self.subscribe, self.hosts)
            await self.subscribe.setLocalDescription(await self.subscribe.createAnswer())
            await self.client.request("media_answer", room=self.room, sdp=self.subscribe.localDescription.sdp)
        except Exception as exc:  # reported in the result; the streams then show as missing
            self.errors.append(f"answer: {type(exc).__name__}: {exc}")

    @property
    def camera(self) -> CameraTrack:
        return next(t for t in self.tracks if isinstance(t, CameraTrack))

    def frame_counts(self) -> dict[tuple[str, str], int]:
        """(publisher, kind) -> frames decoded so far, for every section received."""
        return {(s["user"], s["kind"]): len(self.decoded.get((s["user"], s["kind"]), []))
                for s in self.sections.values()}

    async def report_every(self, period_s: float) -> None:
        """``media_report`` every ``period_s`` from what was decoded, as a page sends it."""
        window = ReportWindow(self.frame_counts(), await self.audio_counters(), time.time())
        while True:
            await asyncio.sleep(period_s)
            report = window.next(time.time(), self.frame_counts(), await self.audio_counters(),
                                 sending_video=self.sending_video)
            try:
                await self.client.request("media_report", room=self.room, **report)
                self.reports["sent"] += 1
            except Exception as exc:  # a node that does not know reports refuses them: counted, not fatal
                self.reports["refused"] += 1
                self.reports["error"] = str(exc)[:200]

    async def sample_audio(self, every_s: float = 1.0) -> None:
        """The audio counters every ``every_s``, so loss can be read over any part of the call."""
        while True:
            t = round(time.time() - self.start_at, 2)
            for user, (received, lost) in (await self.audio_counters()).items():
                self.audio_timeline.setdefault(user, []).append([t, received, lost])
            await asyncio.sleep(every_s)

    def _on_track(self, track: MediaStreamTrack) -> None:
        pc = self.subscribe
        assert pc is not None
        mid = next((t.mid for t in pc.getTransceivers() if t.receiver.track is track), None)

        async def decode() -> None:
            with contextlib.suppress(MediaStreamError):
                while True:
                    await track.recv()
                    section = self.sections.get(mid or "")
                    if section is not None:
                        self.decoded.setdefault((section["user"], track.kind), []).append(time.time())

        self.tasks.append(asyncio.create_task(decode()))

    async def audio_counters(self) -> dict[str, tuple[int, int]]:
        """Publisher -> (packets received, packets lost) of its audio, as this peer's receiver counts them."""
        out: dict[str, tuple[int, int]] = {}
        for transceiver in self.subscribe.getTransceivers() if self.subscribe is not None else []:
            section = self.sections.get(transceiver.mid or "")
            if section is None or section.get("kind") != "audio":
                continue
            for stats in (await transceiver.receiver.getStats()).values():
                if stats.type == "inbound-rtp":
                    out[section["user"]] = (stats.packetsReceived, max(0, stats.packetsLost))
        return out

    async def sent_bytes(self) -> dict[str, int]:
        out = {"audio": 0, "video": 0}
        if self.publish is not None:
            for stats in (await self.publish.getStats()).values():
                if stats.type == "outbound-rtp":
                    out[stats.kind] = out.get(stats.kind, 0) + stats.bytesSent
        return out

    def candidate_type(self) -> str | None:
        from rtserver.media.forwarder import nominated_candidate_type

        return nominated_candidate_type(self.publish) if self.publish is not None else None

    async def close(self) -> None:
        if self.video_rate is not None:
            await self.video_rate.close()
        for task in self.tasks:
            task.cancel()
        for track in self.tracks:
            track.stop()
        for pc in (self.publish, self.subscribe):
            if pc is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(pc.close(), CLOSE_TIMEOUT_S)
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    encode_like_a_browser(RateLimits().start_bps)
    start, end = args.start_at + args.warmup_s, args.start_at + args.warmup_s + args.window_s
    result: dict[str, Any] = {"user": None, "window_s": args.window_s, "receive": {}, "errors": []}
    hosts = HostAddresses(listen=(args.listen,)) if args.listen else None
    async with Client(args.url, token=args.token, reconnect=False) as client:
        result["user"] = client.hello["user"]
        peer = Peer(client, args.room, hosts)
        peer.start_at = args.start_at
        try:
            joined = await client.request("media_join", room=args.room)
            result["turn"], peer.config = await choose_turn(joined.get("ice_servers", []))
            await peer.start()
            # A node from before media_report gives no period: a page's default (2 s) is used.
            peer.tasks += [asyncio.create_task(peer.report_every(joined.get("report_every_ms", 2000) / 1000)),
                           asyncio.create_task(peer.sample_audio())]
            await asyncio.sleep(max(0.0, start - time.time()))
            sent_before, audio_before = await peer.sent_bytes(), await peer.audio_counters()
            await asyncio.sleep(max(0.0, end - time.time()))
            sent_after, audio_after = await peer.sent_bytes(), await peer.audio_counters()
            result["send_kbps"] = {k: round((sent_after[k] - sent_before.get(k, 0)) * 8 / args.window_s / 1000)
                                   for k in sent_after}
            result["candidate"] = peer.candidate_type()
            for (user, kind), times in peer.decoded.items():
                entry = result["receive"].setdefault(user, {})
                if kind == "video":
                    entry["video"] = summarise_video(times, start, end)
                else:
                    entry["audio_decoded"] = sum(1 for t in times if start <= t < end)
                entry["first_ms"] = min(entry.get("first_ms", 10**9), round((min(times) - args.start_at) * 1000))
            for user, (received, lost) in audio_after.items():
                got, missed = received - audio_before.get(user, (0, 0))[0], lost - audio_before.get(user, (0, 0))[1]
                result["receive"].setdefault(user, {})["audio"] = audio_loss(got, max(0, missed), args.window_s)
        except Exception as exc:  # the outcome is what was measured; the error says why it stopped
            result["errors"].append(f"{type(exc).__name__}: {exc}")
        finally:
            result["fallbacks"], result["reports"] = peer.fallbacks, peer.reports
            result["audio_timeline"] = peer.audio_timeline
            result["send_rate"] = peer.video_rate.timeline if peer.video_rate is not None else None
            result["errors"] += peer.errors
            print(json.dumps(result), flush=True)  # before closing: a slow close must not lose the figures
            await peer.close()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.calibrate_peer", description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the node's WebSocket URL")
    parser.add_argument("--token", required=True)
    parser.add_argument("--room", required=True)
    parser.add_argument("--start-at", type=float, required=True, help="wall-clock time the call starts (unix s)")
    parser.add_argument("--warmup-s", type=float, default=6.0, help="seconds not measured after --start-at")
    parser.add_argument("--window-s", type=float, default=15.0, help="seconds measured after the warm-up")
    parser.add_argument("--listen", default="", help="bind ICE to this address only (default: every interface)")
    args = parser.parse_args(argv)
    asyncio.run(run(args))
    sys.stdout.flush()
    os._exit(0)  # aiortc may leave threads (encoders) behind a closed connection: the figures are printed


if __name__ == "__main__":
    main()
