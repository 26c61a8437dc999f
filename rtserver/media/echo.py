"""The pre-call echo room's capacity probe, on the node: feeds ``rtserver.precall.probe`` with what
the room receives and sends the client's publish connection the REMBs it asks for.

Every ``SAMPLE_S`` it sums the counters of the owner's publications (audio and video: the link
carries both), lets the probe decide, and sends the REMB in force on the video section: again at
every sample, since a REMB is a standing cap that a browser expects refreshed, and a first one
sent before any video arrived (nothing to name yet) must still reach it. The probe's report goes
to the client in ``media_stats`` (``probe``).

Until the hold, the room asks for no retransmission and answers none, nor passes on the keyframe
requests of the echo's receiver: the probe overdrives the link on purpose, and repairing what it
lost only queues more in the sender (Chromium sent 60 % retransmissions, and its queue of them took
2 s to drain once held, its window measuring the rest as loss) and on the way back; a keyframe,
several times an ordinary frame, goes out as a burst that the bottleneck's queue drops half of.
The receiver asks for a keyframe again once the hold lets its requests through.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from ..logprivacy import personal
from ..precall.probe import SAMPLE_S, CapacityProbe, Counters, Phase
from .forwarder import RtpPacket
from .room import MediaRoom
from .track import Publication

__all__ = ["EchoProbe"]

log = logging.getLogger(__name__)


class EchoProbe:
    def __init__(self, room: MediaRoom, *, sample_s: float = SAMPLE_S):
        self.room = room
        self.probe = CapacityProbe()
        self._sample_s = sample_s
        self._watched: Publication | None = None
        self._task = asyncio.create_task(self._run(), name=f"echo-probe-{room.id}")

    def _video(self) -> Publication | None:
        return next((p for p in self.room.publications.values() if p.kind == "video"), None)

    def _watch(self, publication: Publication | None) -> None:
        if publication is self._watched:
            return
        if self._watched is not None and self._watched.observer == self._on_packet:
            self._watched.observer = None
        self._watched = publication
        if publication is not None:
            publication.observer = self._on_packet
            self._repairs(publication, self.probe.phase is Phase.HOLDING)  # from its first packets

    def _on_packet(self, packet: RtpPacket, now: float) -> None:
        self.probe.on_video_packet(now, packet.extensions.abs_send_time)

    def counters(self) -> Counters:
        received = bytes_ = expected = lost = audio_bytes = audio_packets = 0
        for publication in list(self.room.publications.values()):
            inbound = publication.inbound
            if inbound is None:
                continue
            stats = inbound.stats()
            received += inbound.packets
            bytes_ += inbound.bytes
            expected += stats.get("packets_expected", 0)
            lost += stats.get("packets_lost", 0)
            if publication.kind == "audio":
                audio_bytes += inbound.bytes
                audio_packets += inbound.packets
        return Counters(bytes=bytes_, packets=received, expected=expected, lost=lost, audio_bytes=audio_bytes,
                        audio_packets=audio_packets)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._sample_s)
            try:
                await self._sample()
            except ConnectionError:
                pass  # DTLS not up yet, or gone: the next sample sends the REMB again
            except Exception:  # a bug here must not end the probe of a check in progress silently
                log.exception("echo room %s: capacity probe sample failed", personal(self.room.id))

    def _repairs(self, video: Publication | None, on: bool) -> None:
        """Retransmissions of the video asked for and answered, and the receiver's keyframe
        requests passed on (the hold), or not (the probe)."""
        if video is None:
            return
        if video.inbound is not None:
            video.inbound.set_nacks(on)
        for downtrack in video.downtracks:
            downtrack.outbound.repairs = on

    async def _sample(self) -> None:
        video = self._video()
        self._watch(video)
        self.probe.tick(time.monotonic(), self.counters())
        self._repairs(video, self.probe.phase is Phase.HOLDING)
        target = self.probe.target_kbps
        if video is not None and video.inbound is not None and target is not None:
            await video.inbound.send_remb(target * 1000)

    def report(self) -> dict[str, Any]:
        return self.probe.report(time.monotonic())

    def close(self) -> None:
        self._watch(None)
        self._task.cancel()
