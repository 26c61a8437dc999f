"""Webhooks to a real receiver on 127.0.0.1: signatures verify, failures are retried with
growing delays, a stalled endpoint never holds up the server, and the queue is bounded."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time

import pytest
from prometheus_client import CollectorRegistry
from workflow_support import WebhookReceiver, follow, users

from rtserver.workflow.settings import WebhookConfig
from rtserver.workflow.webhooks import WebhookDispatcher, sign

SECRET = "portal-shared-secret-0123456789"
BASE_S = 0.1


@pytest.fixture
async def receiver():
    stall = asyncio.Event()
    hook = WebhookReceiver(fail_first=3, stall_first=stall)
    await hook.start()
    yield hook
    stall.set()
    await hook.stop()


@pytest.fixture
def settings_overrides(receiver, monkeypatch):
    monkeypatch.setenv("RTSERVER_WEBHOOK_SECRET", SECRET)
    return {"webhook_urls": receiver.url, "webhook_retry_base_s": BASE_S, "webhook_timeout_s": 1.0}


def _verify(headers: dict[str, str], body: bytes) -> bool:
    expected = hmac.new(SECRET.encode(), headers["X-Rtserver-Timestamp"].encode() + b"." + body,
                        hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["X-Rtserver-Signature"], "sha256=" + expected)


async def test_signed_retried_with_backoff_and_never_blocking(harness, receiver):
    await users(harness, ("adv-1", "advisor", ""), ("js-1", "jobseeker", ""))
    # followup.assigned: its first attempt stalls in the receiver until the client times out (1 s).
    await follow(harness, "js-1", "adv-1")
    tomorrow = int(time.time() * 1000) + 86_400_000  # within callback_max_horizon_days
    await asyncio.wait_for(receiver.attempted.wait(), 5)
    # Meanwhile the server answers at once: the API and chat do not wait on the endpoint.
    started = time.perf_counter()
    js = await harness.client("js-1")
    request = await js.request("callback_request", reason="Un rappel", channel="phone",
                               windows=[{"start": tomorrow, "end": tomorrow + 600_000}])
    status, _ = await harness.api("GET", "/api/advisors/adv-1/portfolio")
    assert status == 200 and time.perf_counter() - started < 0.5
    delivered = {}
    async with asyncio.timeout(15):
        while len(delivered) < 2:
            headers, body = await receiver.delivered.get()
            delivered[headers["X-Rtserver-Event"]] = (headers, body)
    headers, body = delivered["callback.requested"]
    assert _verify(headers, body)
    event = json.loads(body)
    assert event["type"] == "callback.requested" and event["data"]["id"] == request["callback"]["id"]
    assert event["data"]["advisor"] == "adv-1" and event["id"] == headers["X-Rtserver-Delivery"]
    # Every attempt was signed; a tampered body would not verify.
    assert all(_verify(h, b) for _, h, b in receiver.attempts)
    assert not _verify(headers, body.replace(b"Un rappel", b"Deux rappels"))
    # 3 failures (one stalled) before success, retried with doubling delays, same delivery id.
    assigned = [(t, h) for t, h, _ in receiver.attempts if h["X-Rtserver-Event"] == "followup.assigned"]
    assert len({h["X-Rtserver-Delivery"] for _, h in assigned}) == 1
    by_delivery: dict[str, list[float]] = {}
    for t, h, _ in receiver.attempts:
        by_delivery.setdefault(h["X-Rtserver-Delivery"], []).append(t)
    assert max(len(times) for times in by_delivery.values()) >= 2
    for times in by_delivery.values():
        for n, (a, b) in enumerate(itertools.pairwise(times)):
            assert b - a >= BASE_S * 2**n * 0.9  # the delay doubles at each failure
    total = len(receiver.attempts)
    assert total == 3 + 2  # three failures shared between the two events, then one success each


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    body = b'{"a":1}'
    assert sign("k" * 16, "1700000000", body) == "sha256=" + hmac.new(
        b"k" * 16, b"1700000000." + body, hashlib.sha256).hexdigest()


async def test_queue_is_bounded_and_gives_up_after_max_attempts():
    hook = WebhookReceiver(fail_first=1000)
    await hook.start()
    registry = CollectorRegistry()
    dispatcher = WebhookDispatcher(WebhookConfig((hook.url,), SECRET, max_attempts=2, retry_base_s=0.01,
                                                 retry_max_s=0.05, timeout_s=1.0, queue_max=3, recover_s=60.0),
                                   registry=registry)
    await dispatcher.start()
    try:
        for i in range(5):
            dispatcher.emit("callback.requested", {"i": i})  # returns at once, whatever the endpoint does
        assert registry.get_sample_value("rtserver_webhook_deliveries_total", {"outcome": "dropped"}) == 2
        async with asyncio.timeout(5):
            # A counter has no event to await: poll it, within the bound.
            while registry.get_sample_value("rtserver_webhook_deliveries_total", {"outcome": "gave_up"}) != 3:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
        assert len(hook.attempts) == 6  # 3 events x 2 attempts
        dispatcher.emit("callback.requested", {"i": 5})  # room again once the others were given up
        assert registry.get_sample_value("rtserver_webhook_deliveries_total", {"outcome": "dropped"}) == 2
    finally:
        await dispatcher.close()
        await hook.stop()
