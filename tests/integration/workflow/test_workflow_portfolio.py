"""Portfolios on a real node (SQLite): the cap, transfer, opt-out and opt-in, the portfolio listing;
and a transfer across two nodes sharing a real redis-server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import pytest
from conftest import API_KEY
from workflow_support import follow, users, workflow_of

from rtserver.client import ServerError
from rtserver.errors import Unavailable
from rtserver.workflow.api import OPENAPI_PATH


@pytest.fixture
def settings_overrides():
    return {"portfolio_cap": 2, "portfolio_near_cap_ratio": 1.0, "membership_repair_s": 0.3, "workflow_tick_s": 0.05}


async def test_cap_refuses_past_it_and_operators_see_who_is_near(harness):
    await users(harness, ("adv-1", "advisor", ""), ("adv-2", "advisor", ""),
                *((f"js-{i}", "jobseeker", "") for i in range(4)))
    await follow(harness, "js-0", "adv-1")
    await follow(harness, "js-1", "adv-1")
    status, data = await harness.api("POST", "/api/followups", {"jobseeker": "js-2", "advisor": "adv-1"})
    assert status == 409 and data["error"]["code"] == "portfolio_full"
    # Assigning again to the same advisor is idempotent, not a third slot.
    assert (await follow(harness, "js-0", "adv-1"))["advisor"] == "adv-1"
    status, data = await harness.api("POST", "/api/followups", {"jobseeker": "js-0", "advisor": "adv-2"})
    assert status == 409 and data["error"]["code"] == "conflict"
    status, near = await harness.api("GET", "/api/advisors?near_cap=true")
    assert status == 200 and [a["advisor"] for a in near["advisors"]] == ["adv-1"]
    assert near["advisors"][0]["portfolio_size"] == 2
    # A transfer into a full portfolio is refused too, and moves nothing.
    await follow(harness, "js-2", "adv-2")
    status, data = await harness.api("POST", "/api/followups/js-2/transfer", {"advisor": "adv-1"})
    assert status == 409 and data["error"]["code"] == "portfolio_full"
    assert (await harness.api("GET", "/api/followups/js-2"))[1]["advisor"] == "adv-2"


async def test_only_volunteer_advisors_get_jobseekers(harness):
    await users(harness, ("js-1", "jobseeker", ""))
    status, _ = await harness.api("PUT", "/api/users/adv-x", {"name": "X", "role": "advisor", "volunteer": False})
    assert status == 200
    status, data = await harness.api("POST", "/api/followups", {"jobseeker": "js-1", "advisor": "adv-x"})
    assert status == 403, data
    status, data = await harness.api("POST", "/api/followups", {"jobseeker": "js-1", "advisor": "nobody"})
    assert status == 404 and data["error"]["code"] == "not_found"


async def test_transfer_keeps_history_and_callbacks_new_advisor_reads_old_cannot_post(harness):
    await users(harness, ("adv-old", "advisor", ""), ("adv-new", "advisor", ""), ("js-1", "jobseeker", ""))
    room = (await follow(harness, "js-1", "adv-old"))["room"]
    js = await harness.client("js-1")
    old = await harness.client("adv-old", "advisor")
    await js.join(room)
    await old.join(room)
    for i in range(3):
        await js.send(room, f"question {i}")
        await old.send(room, f"answer {i}")
    tomorrow = int(time.time() * 1000) + 86_400_000  # within callback_max_horizon_days
    callback = await js.request("callback_request", reason="CV", channel="phone",
                                windows=[{"start": tomorrow, "end": tomorrow + 3_600_000}])
    before = (await harness.api("GET", "/api/followups/js-1/export"))[1]["messages"]

    status, moved = await harness.api("POST", "/api/followups/js-1/transfer", {"advisor": "adv-new"})
    assert status == 200 and moved["advisor"] == "adv-new" and moved["previous_advisor"] == "adv-old"
    assert moved["room"] == room

    # Both sides that are connected are told live; the old advisor hears it before his removal.
    for client in (js, old):
        event = await client.next_event("followup", timeout=5)
        assert event["event"] == "transferred" and event["from"] == "adv-old"
    # The old advisor can no longer post nor come back.
    with pytest.raises(ServerError) as refused:
        await old.send(room, "still here?")
    assert refused.value.code in ("not_joined", "forbidden")
    with pytest.raises(ServerError):
        await old.join(room)
    # The new advisor reads every message, the transfer notice last, and can post.
    new = await harness.client("adv-new", "advisor")
    await new.join(room)
    history = await new.history(room, limit=100)
    texts = [m["text"] for m in history["messages"]]
    assert [m["text"] for m in before] == texts[:len(before)]
    assert "ADV-NEW" in texts[-1]
    await new.send(room, "hello, I take over")
    # The callback request followed the jobseeker into the new advisor's queue.
    status, queue = await harness.api("GET", "/api/advisors/adv-new/callbacks")
    assert [c["id"] for c in queue["callbacks"]] == [callback["callback"]["id"]]
    assert (await harness.api("GET", "/api/advisors/adv-old/callbacks"))[1]["callbacks"] == []
    assert (await harness.api("GET", "/api/advisors/adv-new/portfolio"))[1]["size"] == 1


async def test_a_transferred_advisor_on_another_node_stops_receiving_the_conversation(redis_nodes):
    a, b = redis_nodes
    await users(a, ("adv-old", "advisor", ""), ("adv-new", "advisor", ""), ("js-1", "jobseeker", ""))
    room = (await follow(a, "js-1", "adv-old"))["room"]
    old = await b.client("adv-old", "advisor")  # connected to node b; the transfer goes through node a
    js = await b.client("js-1")
    await old.join(room)
    await js.join(room)
    status, _ = await a.api("POST", "/api/followups/js-1/transfer", {"advisor": "adv-new"})
    assert status == 200
    removed = await old.next_event("member", timeout=5, where=lambda e: e["event"] == "removed")
    assert removed["user"] == "adv-old"
    # What the jobseeker writes next is not for the old advisor any more: the jobseeker's own copy
    # comes back through the same node, then a ping answered after it shows nothing reached him.
    sent = await js.send(room, "for my new advisor only")
    await js.next_event("message", timeout=5, where=lambda e: e["offset"] == sent["offset"])
    await old.request("ping")
    leaked = [e for e in old._events if e.get("type") == "message" and e["offset"] >= sent["offset"]]
    assert leaked == []


async def _members(harness, room: str) -> set[str]:
    status, data = await harness.api("GET", f"/api/rooms/{room}")
    return {m["user"] for m in data["members"]} if status == 200 else set()


async def _repaired(harness, room: str, expected: set[str]) -> set[str]:
    """The room's members once they are ``expected`` or after 5 s of timer passes, whichever first."""
    wf = workflow_of(harness)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5):
            while await _members(harness, room) != expected:
                await wf.ticked.wait()
    return await _members(harness, room)


async def test_a_transfer_cut_short_is_completed_by_any_node_later(harness):
    await users(harness, ("adv-old", "advisor", ""), ("adv-new", "advisor", ""), ("js-1", "jobseeker", ""))
    room = (await follow(harness, "js-1", "adv-old"))["room"]
    portfolios = workflow_of(harness).portfolios
    remove_member = portfolios._remove_member

    async def store_lost(room: str, user: str) -> bool:  # the step at which the node "dies"
        raise Unavailable("the store became unreachable")

    portfolios._remove_member = store_lost
    status, _ = await harness.api("POST", "/api/followups/js-1/transfer", {"advisor": "adv-new"})
    assert status == 503
    assert await _members(harness, room) == {"js-1", "adv-old", "adv-new"}  # half done
    portfolios._remove_member = remove_member
    assert await _repaired(harness, room, {"js-1", "adv-new"}) == {"js-1", "adv-new"}
    status, followup = await harness.api("GET", "/api/followups/js-1")
    assert followup["advisor"] == "adv-new"


async def test_an_assignment_cut_short_gets_its_conversation_later(harness):
    await users(harness, ("adv-1", "advisor", ""), ("js-1", "jobseeker", ""))
    chat = workflow_of(harness).portfolios._chat
    create_room = chat.create_room

    async def store_lost(*args, **kwargs):
        raise Unavailable("the store became unreachable")

    chat.create_room = store_lost
    status, _ = await harness.api("POST", "/api/followups", {"jobseeker": "js-1", "advisor": "adv-1"})
    assert status == 503
    chat.create_room = create_room
    assert await _repaired(harness, "followup-js-1", {"js-1", "adv-1"}) == {"js-1", "adv-1"}


async def test_opt_out_and_in_keep_everything(harness):
    await users(harness, ("adv-1", "advisor", ""), ("js-1", "jobseeker", ""), ("js-2", "jobseeker", ""))
    room = (await follow(harness, "js-1", "adv-1"))["room"]
    js = await harness.client("js-1")
    await js.join(room)
    await js.send(room, "before leaving")
    out = await js.request("followup_opt_out")
    assert out["followup"]["status"] == "opted_out"
    exported = (await harness.api("GET", "/api/followups/js-1/export"))[1]
    assert "before leaving" in [m["text"] for m in exported["messages"]]
    with pytest.raises(ServerError) as paused:
        await js.send(room, "while out")
    assert paused.value.code == "forbidden"
    # The slot is free meanwhile (the cap is 2)...
    assert (await harness.api("GET", "/api/advisors/adv-1/portfolio"))[1]["size"] == 0
    status, back = await harness.api("POST", "/api/followups/js-1/opt-in")
    assert status == 200 and back["status"] == "active" and back["advisor"] == "adv-1"
    await js.send(room, "back again")
    texts = [m["text"] for m in (await harness.api("GET", "/api/followups/js-1/export"))[1]["messages"]]
    assert texts.index("before leaving") < texts.index("back again")
    assert "while out" not in texts


async def test_portfolio_lists_presence_and_precall_verdict(harness):
    await users(harness, ("adv-1", "advisor", ""), ("js-1", "jobseeker", ""), ("js-2", "jobseeker", ""))
    await follow(harness, "js-1", "adv-1")
    await follow(harness, "js-2", "adv-1")
    await harness.client("js-1")
    status, data = await harness.api("GET", "/api/advisors/adv-1/portfolio")
    assert status == 200
    rows = {r["jobseeker"]: r for r in data["portfolio"]}
    assert rows["js-1"]["presence"]["status"] == "online"
    assert rows["js-2"]["presence"]["status"] == "offline"
    assert rows["js-1"]["precall"] is None  # no check results stored on this node
    assert rows["js-1"]["unread"] == 1  # the assignment notice
    # Last contact: the time of the latest message, here the jobseeker's own.
    js = await harness.client("js-1")
    await js.join("followup-js-1")
    await js.send("followup-js-1", "Bonjour")
    sent = (await js.history("followup-js-1", limit=1))["messages"][-1]
    status, data = await harness.api("GET", "/api/advisors/adv-1/portfolio")
    rows = {r["jobseeker"]: r for r in data["portfolio"]}
    assert rows["js-1"]["last_ts"] == sent["ts"] and rows["js-1"]["unread"] == 2
    assert rows["js-2"]["last_ts"] is not None and rows["js-2"]["last_ts"] <= sent["ts"]  # its notice


async def test_api_refuses_missing_or_wrong_key(harness):
    openapi = json.loads(OPENAPI_PATH.read_text())
    checked = 0
    for resource in harness.app.router.resources():
        path = resource.canonical
        if not path.startswith("/api/") or path in ("/api/openapi.json",) or path.startswith("/api/demo"):
            continue
        concrete = path.replace("{", "x").replace("}", "")
        for route in resource:
            if route.method == "HEAD":
                continue
            for key in (None, "wrong-" + API_KEY):
                status, data = await harness.api(route.method, concrete, {}, key=key)
                assert status == 401 and data["error"]["code"] == "unauthorized", (route.method, path)
                checked += 1
    assert checked >= 2 * len([p for p in openapi["paths"] if not p.startswith(("/api/demo", "/api/openapi"))])


async def test_every_api_route_is_in_the_openapi_description(harness):
    openapi = json.loads(OPENAPI_PATH.read_text())
    assert openapi["openapi"].startswith("3.1")
    async with harness.session.get(harness.url("/api/openapi.json")) as resp:
        assert resp.status == 200 and (await resp.json())["paths"] == openapi["paths"]
    for resource in harness.app.router.resources():
        if resource.canonical.startswith("/api/"):
            for route in resource:
                if route.method != "HEAD":
                    assert route.method.lower() in openapi["paths"].get(resource.canonical, {}), (
                        route.method, resource.canonical)


async def test_bad_input_gets_documented_errors(harness):
    await users(harness, ("adv-1", "advisor", ""), ("js-1", "jobseeker", ""))
    assert (await harness.api("PUT", "/api/users/bad%20id", {"name": "x", "role": "advisor"}))[0] == 400
    assert (await harness.api("PUT", "/api/users/u1", {"name": "x", "role": "boss"}))[0] == 400
    assert (await harness.api("PUT", "/api/users/u1", {"name": "x", "role": "jobseeker", "email": "nope"}))[0] == 400
    assert (await harness.api("POST", "/api/followups", [1, 2]))[0] == 400
    await follow(harness, "js-1", "adv-1")
    js = await harness.client("js-1")
    for bad in ({"reason": "x", "channel": "fax", "windows": [{"start": 1, "end": 2}]},
                {"reason": "x", "channel": "video", "windows": []},
                {"reason": "x", "channel": "video", "windows": [{"start": 5, "end": 2}]},
                {"reason": "", "channel": "video", "windows": [{"start": 1, "end": 2}]}):
        with pytest.raises(ServerError) as refused:
            await js.request("callback_request", **bad)
        assert refused.value.code == "invalid_message"
    with pytest.raises(ServerError) as refused:
        await js.request("callback_claim", callback="abc")
    assert refused.value.code == "forbidden"  # jobseekers do not claim
    await asyncio.sleep(0)
