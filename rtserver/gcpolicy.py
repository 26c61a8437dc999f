"""Full garbage collections at moments the node chooses.

``rtserver serve`` raises the cyclic collector's thresholds and freezes start-up objects
(``cli._tune_gc``): with Python's defaults, full collections over thousands of WebSocket
connections paused the event loop for up to half a second. The price is that a full
collection almost never runs by itself: at a node's usual allocation rate the oldest generation
is examined once every few hours. Objects that lived long enough to reach it and then die in a
reference cycle stay in memory until then.

A closed interview is exactly that: aiortc's peer connections are cyclic (the connection and
its transports hold each other through event listeners, aioice's ICE agent and its sockets
through callbacks, pyOpenSSL's DTLS context through its verify helper), and so are a room and
its participants. Each closed one-to-one interview left about 200 KiB behind, and a node's RSS
grew by that much per interview (measured: 100 join/leave cycles, +21 MiB, flat with a full
collection in between). ``FullCollection`` runs one shortly after such a teardown instead, at
most once per interval, so what closed interviews leave is freed within seconds and the
collector's pause (a pass over every live object) stays rare.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

__all__ = ["NODE_GC_THRESHOLDS", "FullCollection"]

log = logging.getLogger(__name__)

NODE_GC_THRESHOLDS = (50_000, 20, 100)  # what ``rtserver serve`` sets (cli._tune_gc)


class FullCollection:
    """``request()`` after releasing a large cyclic object graph: a full collection follows
    ``delay_s`` later (requests in between share it), and never sooner than ``min_interval_s``
    after the previous one."""

    __slots__ = ("_delay_s", "_last", "_min_interval_s", "_timer", "collections")

    def __init__(self, *, delay_s: float = 1.0, min_interval_s: float = 10.0):
        self._delay_s = delay_s
        self._min_interval_s = min_interval_s
        self._timer: asyncio.TimerHandle | None = None
        self._last = float("-inf")
        self.collections = 0

    def request(self) -> None:
        if self._timer is not None:
            return  # the collection already due will find this garbage too
        now = time.monotonic()
        delay = max(self._delay_s, self._last + self._min_interval_s - now)
        self._timer = asyncio.get_running_loop().call_later(delay, self._collect)

    def _collect(self) -> None:
        self._timer = None
        started = time.monotonic()
        found = gc.collect()
        self._last = time.monotonic()
        self.collections += 1
        log.debug("full collection: %d unreachable objects freed in %.1f ms", found, (self._last - started) * 1000)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
