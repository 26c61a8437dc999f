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
dropped and counted (``rtserver_webhook_deliveries{outcome="dropped"}``). Delivery is at least
once while the node runs; events queued on a node that stops are lost.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import time
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry, Counter

from ..tasks import BackgroundTasks, honour_cancellation
from .settings import WebhookConfig

__all__ = ["WebhookDispatcher", "sign"]

log = logging.getLogger(__name__)
WORKERS = 4


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Rtserver-Signature`` value of a delivery."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookDispatcher:
    def __init__(self, config: WebhookConfig, *, registry: CollectorRegistry):
        self._config = config
        self._queue: asyncio.Queue[tuple[str, bytes, str, str, int]] = asyncio.Queue()
        self._held = 0  # queued plus waiting for a retry: bounded by queue_max
        self._session: aiohttp.ClientSession | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._retries = BackgroundTasks("webhook retry", logger=log)
        self.deliveries = Counter("rtserver_webhook_deliveries", "webhook attempts by outcome (delivered, failed: "
                                  "will retry, gave_up, dropped: queue full)", ["outcome"], registry=registry)

    @property
    def enabled(self) -> bool:
        return bool(self._config.urls)

    async def start(self) -> None:
        if not self.enabled:
            return
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._config.timeout_s))
        self._workers = [asyncio.create_task(self._work(), name=f"webhook-{i}") for i in range(WORKERS)]

    async def close(self) -> None:
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
        for url in self._config.urls:
            self._hold((url, body, event_type, event_id, 1))

    def _hold(self, item: tuple[str, bytes, str, str, int]) -> None:
        if self._held >= self._config.queue_max:
            self.deliveries.labels("dropped").inc()
            log.warning("webhook queue full (%d): %s event dropped", self._config.queue_max, item[2])
            return
        self._held += 1
        self._queue.put_nowait(item)

    async def _work(self) -> None:
        while True:
            url, body, event_type, event_id, attempt = await self._queue.get()
            ok = await self._attempt(url, body, event_type, event_id)
            honour_cancellation()
            if ok:
                self._held -= 1
                self.deliveries.labels("delivered").inc()
            elif attempt >= self._config.max_attempts:
                self._held -= 1
                self.deliveries.labels("gave_up").inc()
                log.warning("webhook %s to %s given up after %d attempts", event_type, url, attempt)
            else:
                self.deliveries.labels("failed").inc()
                delay = min(self._config.retry_max_s, self._config.retry_base_s * 2 ** (attempt - 1))
                self._retries.spawn(self._retry_later(delay, (url, body, event_type, event_id, attempt + 1)))

    async def _retry_later(self, delay_s: float, item: tuple[str, bytes, str, str, int]) -> None:
        await asyncio.sleep(delay_s)
        self._queue.put_nowait(item)  # already counted in _held

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
