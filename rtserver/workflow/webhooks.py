"""Signed webhooks to portals: delivered in the background, retried with exponential backoff.

Each event is POSTed as JSON ``{"id", "type", "created", "data"}`` to every configured URL with
``X-Rtserver-Event``, ``X-Rtserver-Delivery`` (the event id: receivers drop duplicates by it),
``X-Rtserver-Timestamp`` (Unix seconds) and ``X-Rtserver-Signature: sha256=HEX``, the
HMAC-SHA256 of ``TIMESTAMP.BODY`` under the shared secret. Receivers recompute it and reject
old timestamps, which stops replays.

``emit`` never waits: it puts the delivery in a bounded queue and returns. A failed attempt
(network error, timeout, any non-2xx answer) is tried again after ``retry_base_s * 2**n``
(capped at ``retry_max_s``), at most ``max_attempts`` times; waiting retries count against
``queue_max``, so a dead endpoint holds a bounded amount of memory and events beyond it are
dropped and counted (``rtserver_webhook_deliveries{outcome="dropped"}``).

Each delivery is also kept in the workflow store's outbox with a timer, due ``recover_s`` after
its next attempt should have happened; every retry pushes it back, success or giving up removes
both. If the node stops (crash, restart), the timer fires on any node, which takes the delivery
over from the attempt it had reached. Delivery is thus at least once across node failures;
receivers drop duplicates by ``X-Rtserver-Delivery``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import logging
import secrets
import time
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry, Counter

from ..errors import RtError
from ..tasks import BackgroundTasks, honour_cancellation
from .settings import WebhookConfig
from .store import TimerKind, WorkflowStore

__all__ = ["Delivery", "WebhookDispatcher", "sign"]

log = logging.getLogger(__name__)
WORKERS = 4


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Rtserver-Signature`` value of a delivery."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


@dataclasses.dataclass(frozen=True, slots=True)
class Delivery:
    """One event for one URL, as the outbox keeps it."""

    id: str  # the event id and the URL's position: unique per delivery
    url: str
    body: bytes
    event_type: str
    event_id: str
    attempt: int  # the next attempt's number, from 1

    def encode(self) -> bytes:
        return json.dumps({"id": self.id, "url": self.url, "body": self.body.decode(), "type": self.event_type,
                           "event": self.event_id, "attempt": self.attempt}, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Delivery:
        d = json.loads(raw)
        return cls(d["id"], d["url"], d["body"].encode(), d["type"], d["event"], d["attempt"])


class WebhookDispatcher:
    def __init__(self, config: WebhookConfig, *, registry: CollectorRegistry, outbox: WorkflowStore | None = None):
        self._config = config
        self._outbox = outbox  # None: deliveries live in memory only
        self._queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self._held = 0  # queued plus waiting for a retry: bounded by queue_max
        self._session: aiohttp.ClientSession | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._retries = BackgroundTasks("webhook retry", logger=log)
        self.deliveries = Counter("rtserver_webhook_deliveries", "webhook attempts by outcome (delivered, failed: "
                                  "will retry, gave_up, dropped: queue full, recovered: taken over from a node "
                                  "that stopped)", ["outcome"], registry=registry)

    @property
    def enabled(self) -> bool:
        return bool(self._config.urls)

    async def start(self) -> None:
        if not self.enabled:
            return
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._config.timeout_s))
        self._workers = [asyncio.create_task(self._work(), name=f"webhook-{i}") for i in range(WORKERS)]

    async def close(self) -> None:
        """Stop delivering; what is still pending stays in the outbox for another node (or the next start)."""
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        await self._retries.close()
        if self._session is not None:
            await self._session.close()

    def emit(self, event_type: str, data: dict[str, Any]) -> None:
        """Queue the event for every URL; returns at once. Dropped (and counted) when the queue is full."""
        if not self.enabled:
            return
        event_id = secrets.token_hex(12)
        body = json.dumps({"id": event_id, "type": event_type, "created": int(time.time() * 1000), "data": data},
                          separators=(",", ":")).encode()
        for i, url in enumerate(self._config.urls):
            delivery = Delivery(f"{event_id}-{i}", url, body, event_type, event_id, 1)
            if self._hold(delivery):
                self._retries.spawn(self._keep_then_queue(delivery, delay_s=0.0))

    async def recover(self, delivery_id: str) -> None:
        """The outbox timer of a delivery fired: the node that held it stopped (its retries kept
        pushing the timer back). Deliver it from here, from the attempt it had reached."""
        if self._outbox is None:
            return
        raw = await self._outbox.get_outbox(delivery_id)
        if raw is None:
            return  # delivered or given up meanwhile
        delivery = Delivery.decode(raw)
        if delivery.url not in self._config.urls:
            log.warning("webhook %s for %s dropped: the URL is no longer configured", delivery.event_type, delivery.url)
            await self._outbox.delete_outbox(delivery_id)
            return
        if not self._hold(delivery):
            await self._keep(delivery, self._config.recover_s)  # full here: try again later, anywhere
            return
        self.deliveries.labels("recovered").inc()
        await self._keep_then_queue(delivery, delay_s=0.0)

    def _hold(self, delivery: Delivery) -> bool:
        if self._held >= self._config.queue_max:
            self.deliveries.labels("dropped").inc()
            log.warning("webhook queue full (%d): %s event dropped", self._config.queue_max, delivery.event_type)
            return False
        self._held += 1
        return True

    async def _keep(self, delivery: Delivery, delay_s: float) -> None:
        """Record the delivery and its take-over timer: due once this node should have finished the
        next attempt, pushed back at every retry, so it fires only if this node stops."""
        if self._outbox is None:
            return
        due_ms = int((time.time() + delay_s + self._config.recover_s) * 1000)
        try:
            await self._outbox.put_outbox(delivery.id, delivery.encode())
            await self._outbox.schedule(TimerKind.WEBHOOK, delivery.id, due_ms)
        except RtError as exc:  # the store is down: deliver from memory all the same
            log.warning("webhook %s not saved in the outbox: %s", delivery.event_type, exc.message)

    async def _keep_then_queue(self, delivery: Delivery, delay_s: float) -> None:
        await self._keep(delivery, delay_s)
        await asyncio.sleep(delay_s)
        self._queue.put_nowait(delivery)  # already counted in _held

    async def _forget(self, delivery: Delivery) -> None:
        if self._outbox is None:
            return
        try:
            await self._outbox.unschedule(TimerKind.WEBHOOK, delivery.id)
            await self._outbox.delete_outbox(delivery.id)
        except RtError as exc:  # its timer will fire and find it again: delivered twice at worst
            log.warning("webhook %s left in the outbox: %s", delivery.event_type, exc.message)

    async def _work(self) -> None:
        while True:
            delivery = await self._queue.get()
            ok = await self._attempt(delivery.url, delivery.body, delivery.event_type, delivery.event_id)
            honour_cancellation()
            if ok or delivery.attempt >= self._config.max_attempts:
                self._held -= 1
                if ok:
                    self.deliveries.labels("delivered").inc()
                else:
                    self.deliveries.labels("gave_up").inc()
                    log.warning("webhook %s to %s given up after %d attempts", delivery.event_type, delivery.url,
                                delivery.attempt)
                await self._forget(delivery)
            else:
                self.deliveries.labels("failed").inc()
                delay = min(self._config.retry_max_s, self._config.retry_base_s * 2 ** (delivery.attempt - 1))
                retry = dataclasses.replace(delivery, attempt=delivery.attempt + 1)
                self._retries.spawn(self._keep_then_queue(retry, delay_s=delay))

    async def _attempt(self, url: str, body: bytes, event_type: str, event_id: str) -> bool:
        assert self._session is not None
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", "X-Rtserver-Event": event_type,
                   "X-Rtserver-Delivery": event_id, "X-Rtserver-Timestamp": timestamp,
                   "X-Rtserver-Signature": sign(self._config.secret, timestamp, body)}
        try:
            async with self._session.post(url, data=body, headers=headers) as resp:
                return 200 <= resp.status < 300
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.info("webhook %s to %s failed: %r", event_type, url, exc)
            return False
