"""A TCP relay in front of a node whose link a test can cut without closing it.

``freeze()`` stops forwarding bytes in both directions on every connection, open or new, and
closes none: what a phone on a train or a laptop whose Wi-Fi dropped sees (the socket looks
open, nothing arrives, no close frame ever comes). ``thaw()`` resets the held connections, as a
NAT or a radio that lost its state does when the network comes back, and relays new ones again.
A browser page opened on ``url(path)`` loads and connects through the relay; the node sees the
relay's Host header, so the page's origin is the relay's, the same on both sides of it.
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["LinkProxy"]

CHUNK = 65_536


class LinkProxy:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.frozen = asyncio.Event()
        self.flowing = asyncio.Event()
        self.flowing.set()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> LinkProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def freeze(self) -> None:
        """Nothing goes through any more, and nothing is closed."""
        self.flowing.clear()
        self.frozen.set()

    def thaw(self) -> None:
        """The held connections are reset; new ones are relayed again."""
        self.frozen.clear()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        self.flowing.set()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        await self.flowing.wait()  # a connection opened while frozen is held, never answered
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError, ConnectionError):
            while True:
                data = await src.read(CHUNK)
                if not data:
                    break
                if self.frozen.is_set():
                    await self.flowing.wait()  # held, then dropped: thaw() reset this connection
                    return
                dst.write(data)
                await dst.drain()
        if not self.frozen.is_set():
            dst.close()
