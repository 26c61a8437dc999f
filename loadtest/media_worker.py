"""A load process of the media benchmark: it runs whole interviews (both participants), so that
publisher and subscriber of every stream share one clock.

The coordinator (``media.py``) talks to it over a pipe, one message each way per phase:

1. the worker connects its interviews and waits for media to flow, then sends ``ready``;
2. ``measure`` gives the window (wall-clock start and end); after it ends (plus a grace period
   for packets still in flight) the worker sends ``result``: per stream figures and its CPU;
3. ``close``: it leaves, closes its peer connections and sends ``closed``.

Any exception is sent as ``error`` (with the traceback) and ends the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

import aiohttp

from .media_clip import Clip
from .media_peers import Peer, RelayPeer, SfuPeer
from .media_probe import KEEP_STAMPS_S, SendStamps, Window
from .stats import cpu_seconds

__all__ = ["worker_main"]


def worker_main(conn: Connection, config: dict[str, Any]) -> None:
    """Entry point of the worker process."""
    try:
        import uvloop
        loop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(_Worker(conn, config).run())
    except Exception:
        with contextlib.suppress(OSError):
            conn.send({"kind": "error", "error": traceback.format_exc()})
    finally:
        loop.close()


async def _recv(conn: Connection) -> dict[str, Any]:
    message: dict[str, Any] = await asyncio.to_thread(conn.recv)
    return message


class _Worker:
    def __init__(self, conn: Connection, config: dict[str, Any]):
        self.conn = conn
        self.config = config
        self.clip = Clip(**config["clip"])
        self.window = Window()
        self.stamps: dict[str, SendStamps] = {}
        self.peers: list[tuple[str, Peer]] = []  # (interview room, peer)
        self.errors: list[str] = []

    async def run(self) -> None:
        async with aiohttp.ClientSession() as session:
            started = time.monotonic()
            await self._set_up(session)
            ready = await self._wait_ready()
            self.conn.send({"kind": "ready", "peers": len(self.peers), "ready": ready,
                            "setup_s": round(time.monotonic() - started, 2), "errors": self.errors[:20]})
            while True:
                message = await _recv(self.conn)
                if message["cmd"] == "measure":
                    self.conn.send({"kind": "result", **await self._measure(message["start"], message["end"])})
                elif message["cmd"] == "close":
                    break
            await self._close()
            self.conn.send({"kind": "closed"})

    async def _set_up(self, session: aiohttp.ClientSession) -> None:
        config = self.config
        semaphore = asyncio.Semaphore(config["setup_concurrency"])

        async def interview(room: str, advisor: str, jobseeker: str) -> None:
            if config["mode"] == "sfu":
                pair: list[Peer] = [
                    SfuPeer(config["url"], config["secret"], role, user, room, self.clip, self.window, self.stamps,
                            transport_cc=config.get("transport_cc", False))
                    for role, user in (("advisor", advisor), ("jobseeker", jobseeker))]
            else:
                pair = [RelayPeer(config["url"], other, user, room, self.clip, self.window, self.stamps, session)
                        for user, other in ((advisor, jobseeker), (jobseeker, advisor))]
            self.peers += [(room, peer) for peer in pair]
            async with semaphore:
                try:
                    for peer in pair:
                        await asyncio.wait_for(peer.start(), config["setup_timeout_s"])
                except Exception as exc:  # the interview counts as not ready; the others go on
                    self.errors.append(f"{room}: {type(exc).__name__}: {exc}")

        await asyncio.gather(*(interview(*spec) for spec in config["interviews"]))

    async def _wait_ready(self) -> int:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(peer.wait_flowing() for _, peer in self.peers)),
                                   self.config["ready_timeout_s"])
        return sum(peer.ready for _, peer in self.peers)

    async def _measure(self, start: float, end: float) -> dict[str, Any]:
        self.window.set(start, end)
        await asyncio.sleep(max(0.0, start - time.time()))
        cpu0 = cpu_seconds(os.getpid())
        before = [peer.snapshot() for _, peer in self.peers]
        await asyncio.sleep(max(0.0, end - time.time()))
        cpu1 = cpu_seconds(os.getpid())
        after = [peer.snapshot() for _, peer in self.peers]
        await asyncio.sleep(min(1.0, KEEP_STAMPS_S / 2))  # packets sent just before the end are still arriving
        streams = []
        for (room, peer), first, last in zip(self.peers, before, after, strict=True):
            for (_, meter), stats0, stats1 in zip(peer.meters, first, last, strict=False):
                streams.append({"room": room, "subscriber": peer.user, **meter.result((stats0, stats1))})
            missing = {"audio", "video"} - {m.kind for _, m in peer.meters}
            streams += [{"room": room, "subscriber": peer.user, "kind": kind, "missing": True} for kind in missing]
        errors = self.errors + [e for _, peer in self.peers for e in peer.errors]
        return {"streams": streams, "cpu_s": None if cpu0 is None or cpu1 is None else cpu1 - cpu0,
                "errors": errors[:20]}

    async def _close(self) -> None:
        async def close(peer: Peer) -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(peer.close(), 10)

        await asyncio.gather(*(close(peer) for _, peer in self.peers))
