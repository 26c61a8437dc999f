"""A decode/re-encode relay, for comparison only: what an aiortc server does out of the box.

``python -m loadtest.relay_server --port PORT`` listens on 127.0.0.1. ``POST /offer`` with
``{room, user, sdp}`` answers with ``{sdp}``: one peer connection per participant, sending its
tracks and receiving the other participant's. Each received track goes through
``aiortc.contrib.media.MediaRelay``, which decodes it once, and every other participant's sender
encodes it again (VP8, Opus) for its own connection. This is not part of rtserver: rtserver
forwards RTP packets without decoding them (docs/media.md); this server shows what that saves.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from typing import Any

from aiohttp import web
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError

from rtserver.media.forwarder import HostAddresses, new_peer_connection, pin_host_addresses

__all__ = ["build_app", "main"]

LOOPBACK = HostAddresses(("127.0.0.1",))
MAX_PARTICIPANTS = 2
MAX_ROOMS = 500


class RelaySlot(MediaStreamTrack):
    """What a participant's sender plays: the other participant's track of this kind, once it exists."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        self._source: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()

    def connect(self, source: MediaStreamTrack) -> None:
        if not self._source.done():
            self._source.set_result(source)

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        source = await self._source
        return await source.recv()

    def stop(self) -> None:
        super().stop()
        if self._source.done():
            self._source.result().stop()
        else:
            self._source.cancel()


class Participant:
    def __init__(self, pc: RTCPeerConnection):
        self.pc = pc
        self.slots = {"audio": RelaySlot("audio"), "video": RelaySlot("video")}
        self.received: dict[str, MediaStreamTrack] = {}


class Relay:
    def __init__(self) -> None:
        self.relay = MediaRelay()
        self.rooms: dict[str, dict[str, Participant]] = {}

    async def offer(self, room_id: str, user: str, sdp: str) -> str:
        room = self.rooms.get(room_id)
        if room is None:
            if len(self.rooms) >= MAX_ROOMS:
                raise web.HTTPServiceUnavailable(text="too many rooms")
            room = self.rooms[room_id] = {}
        if user in room or len(room) >= MAX_PARTICIPANTS:
            raise web.HTTPConflict(text="already in the room, or the room is full")
        pc = new_peer_connection()
        me = room[user] = Participant(pc)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            me.received[track.kind] = track
            for other_user, other in room.items():
                if other_user != user:
                    other.slots[track.kind].connect(self.relay.subscribe(track, buffered=False))

        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        for other_user, other in room.items():  # whoever came first already sends
            if other_user != user:
                for kind, track in other.received.items():
                    me.slots[kind].connect(self.relay.subscribe(track, buffered=False))
        for slot in me.slots.values():
            pc.addTrack(slot)  # takes the section the participant's offer opened for that kind
        pin_host_addresses(pc, LOOPBACK)
        await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)

    async def close(self) -> None:
        participants = [p for room in self.rooms.values() for p in room.values()]
        self.rooms.clear()
        for participant in participants:
            for slot in participant.slots.values():
                slot.stop()
            with contextlib.suppress(Exception):
                await participant.pc.close()


RELAY = web.AppKey("relay", Relay)


async def _offer(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        room, user, sdp = str(body["room"]), str(body["user"]), str(body["sdp"])
    except (ValueError, KeyError, TypeError):
        raise web.HTTPBadRequest(text="expected JSON {room, user, sdp}") from None
    answer = await request.app[RELAY].offer(room, user, sdp)
    return web.json_response({"sdp": answer})


async def _healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _relay_ctx(app: web.Application) -> Any:
    relay = app[RELAY] = Relay()
    yield
    await relay.close()


def build_app() -> web.Application:
    app = web.Application(client_max_size=256 * 1024)
    app.cleanup_ctx.append(_relay_ctx)
    app.router.add_post("/offer", _offer)
    app.router.add_get("/healthz", _healthz)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.relay_server", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    web.run_app(build_app(), host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
