"""Callback requests: live status for the jobseeker, the advisor's queue, outcomes, and claims
that exactly one of many concurrent claimers wins, on SQLite and on Redis with two nodes."""

from __future__ import annotations

import asyncio
import time

import pytest
from workflow_support import follow, users

from rtserver.client import Client, ServerError

HOUR_MS = 3_600_000


def windows(*starts_h: float) -> list[dict[str, int]]:
    now = int(time.time() * 1000)
    return [{"start": now + int(h * HOUR_MS), "end": now + int(h * HOUR_MS) + HOUR_MS} for h in starts_h]


async def _claim_all(clients: list[Client], callback_id: str) -> tuple[list[dict], list[str]]:
    async def claim(client: Client) -> dict | str:
        try:
            return await client.request("callback_claim", callback=callback_id)
        except ServerError as exc:
            return exc.code

    results = await asyncio.gather(*(claim(c) for c in clients))
    return [r for r in results if isinstance(r, dict)], [r for r in results if isinstance(r, str)]


async def _cover(harness, advisor: str, colleague: str) -> None:
    status, data = await harness.api("POST", f"/api/advisors/{advisor}/cover", {
        "colleague": colleague, "until": int(time.time() * 1000) + HOUR_MS})
    assert status == 201, data


async def test_jobseeker_sees_status_live_and_outcomes_are_recorded(harness):
    await users(harness, ("adv-1", "advisor", ""), ("js-1", "jobseeker", ""))
    room = (await follow(harness, "js-1", "adv-1"))["room"]
    js = await harness.client("js-1")
    adv = await harness.client("adv-1", "advisor")
    await js.join(room)
    created = (await js.request("callback_request", reason="Mon CV", channel="video", windows=windows(2)))["callback"]
    assert created["status"] == "open" and created["late"] is False
    queue = (await adv.request("callbacks"))["callbacks"]
    assert [c["id"] for c in queue] == [created["id"]]

    await adv.request("callback_claim", callback=created["id"])
    event = await js.next_event("callback", timeout=5, where=lambda e: e.get("event") == "claimed")
    assert event["callback"]["status"] == "claimed" and event["callback"]["claimed_by"] == "adv-1"

    rescheduled = await adv.request("callback_outcome", callback=created["id"], outcome="rescheduled",
                                    windows=windows(30), note="pas joignable ce matin")
    assert rescheduled["callback"]["status"] == "open"
    event = await js.next_event("callback", timeout=5, where=lambda e: e.get("event") == "rescheduled")
    assert event["callback"]["due"] == rescheduled["callback"]["due"]

    await adv.request("callback_claim", callback=created["id"])
    done = (await adv.request("callback_outcome", callback=created["id"], outcome="done"))["callback"]
    assert done["status"] == "done"
    assert [o["outcome"] for o in done["outcomes"]] == ["rescheduled", "done"]
    event = await js.next_event("callback", timeout=5, where=lambda e: e.get("event") == "done")
    assert event["callback"]["status"] == "done"
    # Finished requests leave the queue; the journal is in the conversation.
    assert (await adv.request("callbacks"))["callbacks"] == []
    texts = [m["text"] for m in (await js.history(room, limit=50))["messages"]]
    assert any("Mon CV" in t and "traitée" in t for t in texts)


async def test_queue_orders_by_due_time_and_limits_open_requests(harness):
    await users(harness, ("adv-1", "advisor", ""), ("js-1", "jobseeker", ""), ("js-2", "jobseeker", ""))
    await follow(harness, "js-1", "adv-1")
    await follow(harness, "js-2", "adv-1")
    js1, js2 = await harness.client("js-1"), await harness.client("js-2")
    late = await js1.request("callback_request", reason="later", channel="phone", windows=windows(48))
    soon = await js2.request("callback_request", reason="soon", channel="phone", windows=windows(1))
    status, queue = await harness.api("GET", "/api/advisors/adv-1/callbacks")
    assert status == 200
    assert [c["id"] for c in queue["callbacks"]] == [soon["callback"]["id"], late["callback"]["id"]]
    for _ in range(2):
        await js1.request("callback_request", reason="more", channel="phone", windows=windows(3))
    with pytest.raises(ServerError) as refused:
        await js1.request("callback_request", reason="too many", channel="phone", windows=windows(3))
    assert refused.value.code == "conflict"
    cancelled = await js1.request("callback_cancel", callback=late["callback"]["id"])
    assert cancelled["callback"]["status"] == "cancelled"
    with pytest.raises(ServerError) as refused:
        await js2.request("callback_cancel", callback=late["callback"]["id"])
    assert refused.value.code == "not_found"  # not theirs


async def test_concurrent_claims_exactly_one_wins_sqlite(harness):
    await users(harness, ("adv-1", "advisor", ""), ("adv-2", "advisor", ""), ("js-1", "jobseeker", ""))
    await follow(harness, "js-1", "adv-1")
    js = await harness.client("js-1")
    callback_id = (await js.request("callback_request", reason="x", channel="phone", windows=windows(1)))[
        "callback"]["id"]
    await _cover(harness, "adv-1", "adv-2")
    # Two advisors (one covering the other) with four tabs each, all claiming at once.
    tabs = [await harness.client(adv, "advisor") for adv in ("adv-1", "adv-2") for _ in range(4)]
    won, lost = await _claim_all(tabs, callback_id)
    assert len(won) == 1 and lost == ["already_claimed"] * 7
    status, stored = await harness.api("GET", f"/api/callbacks/{callback_id}")
    assert status == 200 and stored["claimed_by"] == won[0]["callback"]["claimed_by"]


async def test_concurrent_claims_exactly_one_wins_redis_two_nodes(redis_nodes):
    a, b = redis_nodes
    await users(a, ("adv-1", "advisor", ""), ("adv-2", "advisor", ""), ("js-1", "jobseeker", ""))
    room = (await follow(b, "js-1", "adv-1"))["room"]
    await _cover(a, "adv-1", "adv-2")
    js = await b.client("js-1")
    await js.join(room)
    for round_ in range(3):  # several requests: each has exactly one winner
        callback_id = (await js.request("callback_request", reason=f"r{round_}", channel="video",
                                        windows=windows(1)))["callback"]["id"]
        tabs = [await node.client(adv, "advisor") for node in (a, b) for adv in ("adv-1", "adv-2")]
        won, lost = await _claim_all(tabs * 2, callback_id)
        assert len(won) == 1 and lost == ["already_claimed"] * 7
        # The jobseeker, on node b, sees the claim made through either node.
        event = await js.next_event("callback", timeout=5, where=lambda e, cid=callback_id: e.get(
            "event") == "claimed" and e["callback"]["id"] == cid)
        assert event["callback"]["claimed_by"] == won[0]["callback"]["claimed_by"]
        await tabs[0].request("callbacks")
        cancelled = await js.request("callback_cancel", callback=callback_id)
        assert cancelled["callback"]["status"] == "cancelled"


async def test_windows_all_in_the_past_are_refused_alike_over_websocket_and_http(harness):
    """The rule is the service's: the WebSocket once answered ``forbidden`` where the HTTP API and
    docs/workflow.md say ``invalid_message``."""
    await users(harness, ("adv-1", "advisor", ""), ("js-1", "jobseeker", ""))
    await follow(harness, "js-1", "adv-1")
    js = await harness.client("js-1")
    with pytest.raises(ServerError) as refused:
        await js.request("callback_request", reason="Mon CV", channel="video", windows=windows(-3, -2))
    assert (refused.value.code, refused.value.message) == ("invalid_message", "every window is in the past")
    status, body = await harness.api("POST", "/api/followups/js-1/callbacks",
                                     {"reason": "Mon CV", "channel": "video", "windows": windows(-3, -2)})
    assert (status, body["error"]) == (400, {"code": "invalid_message", "message": "every window is in the past"})
