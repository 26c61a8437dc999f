"""Webhook deliveries survive their node: kept in the workflow store's outbox, taken over by
another node when the one that held them stops. Two nodes share a real redis-server; the
receiver is a real HTTP endpoint on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json

import pytest
from workflow_support import WebhookReceiver, follow, users, workflow_of

from rtserver.node.ws import NODE_KEY
from rtserver.workflow.store import TimerKind

SECRET = "portal-shared-secret-0123456789"


@pytest.fixture
async def receiver():
    hook = WebhookReceiver(fail_first=1_000_000)  # down until the test says otherwise
    await hook.start()
    yield hook
    await hook.stop()


@pytest.fixture
def settings_overrides(receiver, monkeypatch):
    monkeypatch.setenv("RTSERVER_WEBHOOK_SECRET", SECRET)
    return {"webhook_urls": receiver.url, "webhook_retry_base_s": 0.05, "webhook_retry_max_s": 0.2,
            "webhook_timeout_s": 0.5, "webhook_recover_s": 1.0, "webhook_max_attempts": 1000,
            "workflow_tick_s": 0.05}


def _recovered(harness) -> float:
    registry = harness.app[NODE_KEY].metrics.registry
    return registry.get_sample_value("rtserver_webhook_deliveries_total", {"outcome": "recovered"}) or 0.0


async def test_a_delivery_its_node_left_behind_is_taken_over_by_another_node(redis_nodes, receiver):
    a, b = redis_nodes
    await users(a, ("adv-1", "advisor", ""), ("js-1", "jobseeker", ""))
    await follow(a, "js-1", "adv-1")  # node a emits followup.assigned; the endpoint is down
    await asyncio.wait_for(receiver.attempted.wait(), 5)
    await a.server.close()  # node a stops with the delivery still failing
    tried_by_a = {h["X-Rtserver-Delivery"] for _, h, _ in receiver.attempts}
    receiver.fail_first = 0  # the endpoint is back
    headers, body = await asyncio.wait_for(receiver.delivered.get(), 10)
    event = json.loads(body)
    assert event["type"] == "followup.assigned" and event["data"]["jobseeker"] == "js-1"
    assert tried_by_a == {headers["X-Rtserver-Delivery"]}  # the same delivery, not a new event
    expected = hmac.new(SECRET.encode(), headers["X-Rtserver-Timestamp"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    assert headers["X-Rtserver-Signature"] == "sha256=" + expected
    assert _recovered(b) == 1
    # Delivered: the outbox forgot it and its timer, so no node sends it again.
    store = workflow_of(b).store
    assert await store.get_outbox(headers["X-Rtserver-Delivery"]) is None or await _eventually_forgotten(
        store, headers["X-Rtserver-Delivery"])
    pending = await store.due_timers(2**62, limit=100)
    assert [t for t in pending if t.kind is TimerKind.WEBHOOK] == []


async def _eventually_forgotten(store, delivery_id: str) -> bool:
    # The receiver answers before the node records the success: allow it that moment, bounded.
    async with asyncio.timeout(5):
        while await store.get_outbox(delivery_id) is not None:  # noqa: ASYNC110  (no event for a stored row)
            await asyncio.sleep(0.02)
    return True
