"""Chat between real clients on a real node: delivery, acks, idempotency, resume, receipts."""

from __future__ import annotations

import asyncio

import pytest

from rtserver.client import ServerError


async def test_two_users_chat(harness):
    await harness.room("conv-1", {"adv": "member", "js": "member"}, kind="conversation")
    adv = await harness.client("adv", "advisor")
    js = await harness.client("js")
    joined = await js.join("conv-1")
    assert joined["head"] == 0 and joined["epoch"]
    await adv.join("conv-1")
    ack = await adv.send("conv-1", "Bonjour, comment allez-vous ?")
    assert ack["offset"] == 1 and ack["type"] == "ack"
    got = await js.next_event("message", timeout=5)
    assert (got["from"], got["text"], got["offset"]) == ("adv", "Bonjour, comment allez-vous ?", 1)
    ack2 = await js.send("conv-1", "Très bien merci")
    assert ack2["offset"] == 2
    echo = await adv.next_event("message", timeout=5)
    assert echo["offset"] == 1  # the sender receives its own message too (other tabs rely on it)
    reply = await adv.next_event("message", timeout=5)
    assert (reply["from"], reply["offset"]) == ("js", 2)


async def test_offline_message_delivered_once_on_reconnect(harness):
    await harness.room("conv-2", {"adv": "member", "js": "member"}, kind="conversation")
    js = await harness.client("js")
    await js.join("conv-2")
    position = js.positions["conv-2"].offset
    await js.close()
    adv = await harness.client("adv", "advisor")
    await adv.join("conv-2")
    await adv.send("conv-2", "Vous avez un rendez-vous mardi")
    # The jobseeker comes back with the offset it remembered.
    raw = await harness.raw(headers={"Authorization": f"Bearer {harness.token('js')}"})
    hello = await raw.receive_json(timeout=5)
    assert hello["type"] == "hello"
    await raw.send_json({"type": "join", "id": 1, "room": "conv-2", "after": position})
    joined = await raw.receive_json(timeout=5)
    assert joined["type"] == "joined" and joined["replay"] == 1
    missed = await raw.receive_json(timeout=5)
    assert (missed["type"], missed["text"], missed["offset"]) == ("message", "Vous avez un rendez-vous mardi", 1)
    await raw.send_json({"type": "ping", "id": 2})
    later = []
    while (event := await raw.receive_json(timeout=5))["type"] != "pong":
        later.append(event)
    assert [e for e in later if e["type"] == "message"] == [], "the missed message must arrive exactly once"
    await raw.close()


async def test_resume_after_abrupt_disconnect_in_order_without_duplicates(harness):
    await harness.room("grp", {"a": "member", "b": "member"})
    a = await harness.client("a")
    b = await harness.client("b")
    await a.join("grp")
    await b.join("grp")
    await a.send("grp", "m1")
    assert (await b.next_event("message", timeout=5))["text"] == "m1"
    # Cut b's socket without a close handshake, send while it is away, let it come back.
    b._ws._response.connection.transport.abort()
    await b.next_event("disconnected", timeout=5)
    for i in range(2, 40):
        await a.send("grp", f"m{i}")
    await b.next_event("reconnected", timeout=10)
    texts = []
    while len(texts) < 38:
        texts.append((await b.next_event("message", timeout=5))["text"])
    assert texts == [f"m{i}" for i in range(2, 40)]
    await a.send("grp", "after")
    assert (await b.next_event("message", timeout=5))["text"] == "after"
    assert b.reconnects == 1


async def test_retried_send_with_same_key_is_stored_once(harness):
    await harness.room("grp", {"a": "member", "b": "member"})
    a = await harness.client("a")
    await a.join("grp")
    first = await a.send("grp", "once", key="k-123")
    again = await a.send("grp", "once", key="k-123")
    assert first["offset"] == again["offset"] == 1
    assert again.get("duplicate") is True and "duplicate" not in first
    history = await a.history("grp")
    assert [m["text"] for m in history["messages"]] == ["once"]


async def test_history_pages_backwards(harness):
    await harness.room("grp", {"a": "member"})
    a = await harness.client("a")
    await a.join("grp")
    for i in range(1, 16):
        await a.send("grp", f"m{i}")
    page = await a.history("grp", limit=10)
    assert [m["offset"] for m in page["messages"]] == list(range(6, 16)) and page["more"] is True
    older = await a.history("grp", before=6, limit=10)
    assert [m["offset"] for m in older["messages"]] == list(range(1, 6)) and older["more"] is False


async def test_read_receipts_are_stored_and_broadcast(harness):
    await harness.room("conv", {"adv": "member", "js": "member"}, kind="conversation")
    adv = await harness.client("adv", "advisor")
    js = await harness.client("js")
    await adv.join("conv")
    await js.join("conv")
    for i in range(3):
        await adv.send("conv", f"m{i}")
    assert await js.mark_read("conv", 2) == 2
    receipt = await adv.next_event("read", timeout=5)
    assert (receipt["user"], receipt["offset"]) == ("js", 2)
    assert await js.mark_read("conv", 1) == 2, "read receipts never go backwards"
    assert await js.mark_read("conv", 99) == 3, "cannot read past the head"
    rooms = {r["room"]: r for r in await adv.rooms()}
    assert rooms["conv"]["unread"] == 0  # the sender has read its own messages
    js2 = await harness.client("js")
    joined = await js2.join("conv")
    assert joined["read"] == 3 and joined["unread"] == 0
    assert {m["user"]: m["read"] for m in joined["members"]} == {"adv": 3, "js": 3}


async def test_unread_counts(harness):
    await harness.room("conv", {"adv": "member", "js": "member"}, kind="conversation")
    adv = await harness.client("adv", "advisor")
    await adv.join("conv")
    for i in range(4):
        await adv.send("conv", f"m{i}")
    js = await harness.client("js")
    assert {r["room"]: r["unread"] for r in js.hello["rooms"]} == {"conv": 4}
    await js.join("conv")
    await js.mark_read("conv", 3)
    assert {r["room"]: r["unread"] for r in await js.rooms()} == {"conv": 1}


async def test_typing_indicator_reaches_others_and_is_not_stored(harness):
    await harness.room("conv", {"adv": "member", "js": "member"}, kind="conversation")
    adv = await harness.client("adv", "advisor")
    js = await harness.client("js")
    await adv.join("conv")
    await js.join("conv")
    await js.typing("conv", True)
    event = await adv.next_event("typing", timeout=5)
    assert (event["user"], event["active"], event["ttl_ms"]) == ("js", True, 6000)
    assert (await adv.history("conv"))["messages"] == []


async def test_call_signals_reach_the_other_member_and_are_not_stored(harness):
    await harness.room("conv", {"adv": "member", "js": "member"}, kind="conversation")
    adv = await harness.client("adv", "advisor")
    js = await harness.client("js")
    await adv.join("conv")
    await js.join("conv")
    assert (await adv.request("call", room="conv", signal="ringing"))["type"] == "ok"
    ringing = await js.next_event("call", timeout=5)
    assert (ringing["user"], ringing["signal"], "devices" in ringing) == ("adv", "ringing", False)
    await js.request("call", room="conv", signal="devices_refused", devices="both")
    refused = await adv.next_event("call", timeout=5, where=lambda e: e["user"] == "js")
    assert (refused["signal"], refused["devices"], refused["name"]) == ("devices_refused", "both", "js")
    assert (await adv.history("conv"))["messages"] == []


async def test_member_join_and_leave_events(harness):
    await harness.room("grp", {"a": "member", "b": "member"})
    a = await harness.client("a")
    await a.join("grp")
    b = await harness.client("b")
    await b.join("grp")
    joined = await a.next_event("member", timeout=5, where=lambda e: e["user"] == "b")
    assert (joined["user"], joined["event"]) == ("b", "joined")
    await b.leave("grp")
    left = await a.next_event("member", timeout=5, where=lambda e: e["user"] == "b")
    assert (left["user"], left["event"]) == ("b", "left")


async def test_broadcast_room_only_hosts_post(harness):
    members = {"host": "host", **{f"js{i}": "member" for i in range(20)}}
    await harness.room("info-session", members, kind="broadcast")
    host = await harness.client("host", "advisor")
    viewer = await harness.client("js3")
    await host.join("info-session")
    joined = await viewer.join("info-session")
    assert "members" not in joined  # large rooms do not ship their member list
    with pytest.raises(ServerError) as err:
        await viewer.send("info-session", "can I talk?")
    assert err.value.code == "forbidden"
    await host.send("info-session", "Bienvenue à la réunion d'information")
    assert (await viewer.next_event("message", timeout=5))["from"] == "host"


async def test_msgpack_subprotocol_has_same_shapes(harness):
    await harness.room("grp", {"a": "member", "b": "member"})
    a = await harness.client("a", codec="msgpack")
    b = await harness.client("b")
    await a.join("grp")
    await b.join("grp")
    await b.send("grp", "from json")
    msg = await a.next_event("message", timeout=5)
    assert (msg["text"], msg["offset"]) == ("from json", 1)
    ack = await a.send("grp", "from msgpack")
    assert ack["offset"] == 2
    assert (await b.next_event("message", timeout=5))["offset"] in (1, 2)


async def test_many_concurrent_senders_get_gap_free_offsets(harness):
    await harness.room("busy", {f"u{i}": "member" for i in range(10)})
    clients = [await harness.client(f"u{i}") for i in range(10)]
    for c in clients:
        await c.join("busy")
    acks = await asyncio.gather(*(c.send("busy", f"{i}-{j}") for i, c in enumerate(clients) for j in range(10)))
    assert sorted(a["offset"] for a in acks) == list(range(1, 101))
    seen = [(await clients[0].next_event("message", timeout=5))["offset"] for _ in range(100)]
    assert seen == list(range(1, 101))


async def test_store_failure_is_a_retryable_error_never_an_ack(harness):
    await harness.room("grp", {"a": "member"})
    a = await harness.client("a")
    await a.join("grp")
    await harness.node.backends.store.close()
    with pytest.raises(ServerError) as err:
        await a.send("grp", "lost?")
    assert err.value.code == "unavailable" and err.value.retry_after_ms
    assert (await a.request("ping"))["type"] == "pong"
