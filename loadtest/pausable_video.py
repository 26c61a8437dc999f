"""A camera track a Python peer can pause when the node says its uplink cannot carry video
(``media_fallback`` ``send``): no frame is produced, so the encoder sends nothing, and frames
resume at the frame rate rather than in a burst of the ones missed.

Shared by the tests' peers (tests/media_peers.py) and the calibration peers (loadtest/calibrate_peer.py).
"""

from __future__ import annotations

import asyncio
import time

from aiortc import VideoStreamTrack

__all__ = ["PausableVideoTrack"]


class PausableVideoTrack(VideoStreamTrack):
    """Subclasses call ``await self.wait_sending()`` at the start of ``recv``."""

    def __init__(self) -> None:
        super().__init__()
        self.sending = asyncio.Event()  # cleared: no frame is produced (the encoder sends nothing)
        self.sending.set()

    async def wait_sending(self) -> None:
        if not self.sending.is_set():
            stopped = time.time()
            await self.sending.wait()
            if hasattr(self, "_start"):  # carry on at the frame rate, not with a burst of the frames missed
                self._start += time.time() - stopped
