"""The load side's participants: they publish the pre-encoded clip and meter what they receive.

``SfuPeer`` talks to rtserver (WebSocket signalling with the SDK ``Client``: ``media_join``, a
publish connection, a subscribe connection answered on each ``media_offer``). ``RelayPeer``
talks to ``relay_server`` (one connection, offer/answer over HTTP). Both bind ICE to 127.0.0.1,
decode nothing, and expose ``meters`` (one ``StreamMeter`` per received stream, with its
``Inbound``) and ``ready`` (media from the other participant arrives).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection, RTCRtpTransceiver, RTCSessionDescription

from rtserver.auth import mint_token
from rtserver.client import Client
from rtserver.media import forwarder
from rtserver.media.forwarder import HostAddresses, Inbound

from .media_clip import Clip, LoopedTrack
from .media_probe import (
    SendStamps,
    StreamMeter,
    Window,
    number_packets,
    offer_transport_cc,
    on_keyframe_request,
    stamp_sends,
)

__all__ = ["LOOPBACK", "Peer", "RelayPeer", "SfuPeer"]

CLOSE_TIMEOUT_S = 5.0

LOOPBACK = HostAddresses(("127.0.0.1",))


class Peer:
    """What both kinds of participant share: the looped tracks, send stamps, meters, teardown."""

    def __init__(self, user: str, room: str, clip: Clip, window: Window, stamps: dict[str, SendStamps]):
        self.user = user
        self.room = room
        self.window = window
        self.stamps = stamps  # every publisher of this load process, by user
        stamps[user] = SendStamps(window)
        self.tracks = [LoopedTrack("audio", clip.audio), LoopedTrack("video", clip.video, fps=clip.fps)]
        self.meters: list[tuple[Inbound, StreamMeter]] = []
        self.pcs: list[RTCPeerConnection] = []
        self.errors: list[str] = []
        self._flowing = asyncio.Event()

    def _publish_on(self, pc: RTCPeerConnection) -> None:
        for track in self.tracks:
            pc.addTrack(track)

    def _after_remote(self, pc: RTCPeerConnection) -> None:
        stamp_sends(pc, self.stamps[self.user])
        on_keyframe_request(pc, self.tracks[1].request_keyframe)

    def _meter(self, transceiver: RTCRtpTransceiver, publisher: str, comparable: bool) -> None:
        source = self.stamps.get(publisher) if comparable else None
        meter = StreamMeter(transceiver.kind, publisher, self.window, source, self._check_flowing)
        self.meters.append((Inbound(transceiver, meter), meter))

    def _check_flowing(self) -> None:
        if self.ready:
            self._flowing.set()

    async def wait_flowing(self) -> None:
        """Return once audio and video from the other participant arrive."""
        await self._flowing.wait()

    @property
    def ready(self) -> bool:
        """Audio and video from the other participant are arriving."""
        kinds = {m.kind for _, m in self.meters if m.packets}
        return kinds >= {"audio", "video"}

    def snapshot(self) -> list[dict[str, Any]]:
        return [inbound.stats() for inbound, _ in self.meters]

    async def close(self) -> None:
        for track in self.tracks:
            track.stop()
        for pc in self.pcs:
            with contextlib.suppress(Exception):  # bounded: a close must never hang a benchmark
                await asyncio.wait_for(pc.close(), CLOSE_TIMEOUT_S)
        self.stamps.pop(self.user, None)


class SfuPeer(Peer):
    def __init__(self, url: str, secret: str, role: str, user: str, room: str, clip: Clip, window: Window,
                 stamps: dict[str, SendStamps], *, transport_cc: bool = False):
        super().__init__(user, room, clip, window, stamps)
        self.transport_cc = transport_cc  # number the packets as a browser does (media_probe.number_packets)
        ws_url = url.replace("http", "ws", 1) + "/ws"
        self.client = Client(ws_url, token=mint_token(secret=secret, user_id=user, role=role, ttl_s=86_400),
                             reconnect=False)
        self.subscribe_pc: RTCPeerConnection | None = None
        self._pump: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect, join the interview and publish; subscribing follows the server's offers."""
        await self.client.connect()
        self._pump = asyncio.create_task(self._run_pump())
        await self.client.request("media_join", room=self.room)
        pc = forwarder.new_peer_connection()
        self.pcs.append(pc)
        self._publish_on(pc)
        sdp = await forwarder.offer(pc, LOOPBACK)
        if self.transport_cc:
            sdp = offer_transport_cc(sdp)
        reply = await self.client.request("media_offer", room=self.room, sdp=sdp)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=reply["sdp"], type="answer"))
        self._after_remote(pc)
        if self.transport_cc:
            number_packets(pc)  # wraps the stamping: the number is written before the packet is stamped

    async def _run_pump(self) -> None:
        async for event in self.client.events():
            if event.get("type") != "media_offer":
                continue
            try:
                await self._answer(event)
            except Exception as exc:  # noted in the report; the stream then shows as missing
                self.errors.append(f"answer: {type(exc).__name__}: {exc}")

    async def _answer(self, offer: dict[str, Any]) -> None:
        if offer.get("restart") or self.subscribe_pc is None:
            self.subscribe_pc = forwarder.new_peer_connection()
            self.pcs.append(self.subscribe_pc)
        pc = self.subscribe_pc
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
        sections = {s["mid"]: s for s in offer.get("tracks", [])}
        tapped = {inbound.mid for inbound, _ in self.meters}
        for transceiver in pc.getTransceivers():
            if transceiver.mid in sections and transceiver.mid not in tapped:
                self._meter(transceiver, sections[transceiver.mid]["user"], comparable=True)
        sdp = await forwarder.answer(pc, LOOPBACK)
        await self.client.request("media_answer", room=self.room, sdp=sdp)

    async def leave(self) -> None:
        await self.client.request("media_leave", room=self.room)

    async def close(self) -> None:
        await super().close()
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.close(), CLOSE_TIMEOUT_S)


class RelayPeer(Peer):
    """A participant of ``relay_server``: one connection sending its tracks and receiving the other's."""

    def __init__(self, url: str, other: str, user: str, room: str, clip: Clip, window: Window,
                 stamps: dict[str, SendStamps], session: aiohttp.ClientSession):
        super().__init__(user, room, clip, window, stamps)
        self.url = url
        self.other = other
        self.session = session

    async def start(self) -> None:
        pc = forwarder.new_peer_connection()
        self.pcs.append(pc)
        self._publish_on(pc)
        for transceiver in pc.getTransceivers():  # sendrecv: the other participant's media comes back on it
            self._meter(transceiver, self.other, comparable=False)
        sdp = await forwarder.offer(pc, LOOPBACK)
        async with self.session.post(f"{self.url}/offer", json={"room": self.room, "user": self.user,
                                                                "sdp": sdp}) as resp:
            if resp.status != 200:
                raise RuntimeError(f"relay /offer: HTTP {resp.status}: {(await resp.text())[:200]}")
            answer = await resp.json()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        self._after_remote(pc)
