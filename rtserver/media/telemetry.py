"""Media numbers for ``/metrics``, read from the live rooms when Prometheus scrapes.

A collector instead of counters bumped per packet: the forwarding path only increments plain
integers on its own objects, and this sums them (plus what closed tracks left in the totals).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from .signalling import MediaService

__all__ = ["MediaCollector"]


class MediaCollector:
    def __init__(self, service: MediaService):
        self._service = service

    def describe(self) -> list[Metric]:
        return []  # collected on demand only: no sample during registration

    def collect(self) -> Iterator[Metric]:
        service = self._service
        totals = service.totals
        rooms = list(service.rooms.values())
        participants = [p for r in rooms for p in r.participants.values()]
        publications = [pub for r in rooms for pub in r.publications.values()]
        downtracks = [d for p in participants for d in p.subscriber.downtracks]

        yield GaugeMetricFamily("rtserver_media_rooms", "interview rooms open on this node", value=len(rooms))
        yield GaugeMetricFamily("rtserver_media_participants", "participants in interview rooms",
                                value=len(participants))
        yield GaugeMetricFamily("rtserver_media_peer_connections", "open WebRTC peer connections",
                                value=service.peer_connections())
        yield GaugeMetricFamily("rtserver_media_publications", "tracks being published", value=len(publications))

        received = CounterMetricFamily("rtserver_media_received_packets",
                                       "RTP packets received from publishers (retransmissions excluded)",
                                       labels=["kind"])
        forwarded = CounterMetricFamily("rtserver_media_forwarded_packets", "RTP packets forwarded to subscribers",
                                        labels=["kind"])
        forwarded_bytes = CounterMetricFamily("rtserver_media_forwarded_bytes",
                                              "RTP payload bytes forwarded to subscribers", labels=["kind"])
        for kind in ("audio", "video"):
            live_in = sum(p.packets for p in publications if p.kind == kind)
            received.add_metric([kind], totals.packets_received[kind] + live_in)
            live = [d.outbound for d in downtracks if d.kind == kind]
            forwarded.add_metric([kind], totals.packets_forwarded[kind] + sum(o.packets for o in live))
            forwarded_bytes.add_metric([kind], totals.bytes_forwarded[kind] + sum(o.bytes for o in live))
        yield received
        yield forwarded
        yield forwarded_bytes
        yield CounterMetricFamily(
            "rtserver_media_keyframe_requests", "keyframe requests (PLI) sent to publishers",
            value=totals.keyframe_requests + sum(p.keyframe_requests for p in publications))
        yield CounterMetricFamily(
            "rtserver_media_subscriber_keyframe_requests", "keyframe requests (PLI/FIR) received from subscribers",
            value=totals.subscriber_keyframe_requests + sum(d.outbound.keyframe_requests_received
                                                             for d in downtracks))
        counts = service.link_counts
        fallbacks = CounterMetricFamily(
            "rtserver_media_fallbacks", "video stopped in one direction of a participant's link (the call goes on "
            "in audio), by direction (receive: to the participant; send: from it) and reason", labels=["direction",
                                                                                                       "reason"])
        for (direction, reason), count in sorted(counts.fallbacks.items()):
            fallbacks.add_metric([direction, reason], count)
        yield fallbacks
        recoveries = CounterMetricFamily(
            "rtserver_media_recoveries", "video tried again after a fallback (result trial) and kept because the "
            "trial held (result held), by direction", labels=["direction", "result"])
        for (direction, result), count in sorted(counts.recoveries.items()):
            recoveries.add_metric([direction, result], count)
        yield recoveries
