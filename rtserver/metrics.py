"""Prometheus metrics, one registry per application (no module-level state)."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.connections = Gauge("rtserver_connections", "open WebSocket connections", registry=r)
        self.rooms_local = Gauge("rtserver_local_rooms", "rooms with members connected to this node", registry=r)
        self.messages_in = Counter("rtserver_messages_in", "chat messages stored and acknowledged", registry=r)
        self.deliveries = Counter("rtserver_deliveries", "events written to client connections", registry=r)
        self.requests = Counter("rtserver_requests", "client requests by type", ["type"], registry=r)
        self.errors = Counter("rtserver_errors", "errors sent to clients, by code", ["code"], registry=r)
        self.closes = Counter("rtserver_closes", "connections closed by the server, by close code", ["code"],
                              registry=r)
        self.fanout_latency = Histogram(
            "rtserver_fanout_latency_seconds", "from a message's store timestamp to its fan-out on this node",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5), registry=r)
        self.ack_latency = Histogram(
            "rtserver_ack_latency_seconds", "from receiving a send request to acknowledging it (store included)",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5), registry=r)
        self.gap_repairs = Counter("rtserver_gap_repairs", "fan-out gaps filled from the store", registry=r)
        self.loop_lag = Histogram(
            "rtserver_event_loop_lag_seconds",
            "how late the event loop runs a timer due now: what every packet and message waits behind",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0), registry=r)
        self.candidates_refused = Counter(
            "rtserver_media_candidates_refused",
            "remote ICE candidates the node would not send to, by reason (docs/media.md); tcp is routine",
            ["reason"], registry=r)
        # Read when scraped (in the event loop): a count that keeps growing is a task leak.
        Gauge("rtserver_asyncio_tasks", "asyncio tasks not yet done", registry=r).set_function(_task_count)

    def refused_candidate(self, reason: str) -> None:
        self.candidates_refused.labels(str(reason)).inc()


def _task_count() -> float:
    try:
        return float(len(asyncio.all_tasks()))
    except RuntimeError:  # scraped outside the event loop
        return 0.0


LOOP_LAG_INTERVAL_S = 0.02


async def watch_loop_lag(histogram: Histogram, interval_s: float = LOOP_LAG_INTERVAL_S) -> None:
    """Observe, every ``interval_s``, how late a timer fires: one process serves every socket, so a
    busy loop delays forwarded packets and messages by about this much (it runs until cancelled)."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + interval_s
        await asyncio.sleep(interval_s)
        histogram.observe(max(0.0, loop.time() - due))
