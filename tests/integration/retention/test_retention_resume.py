"""A client resuming from an offset whose messages retention deleted: no gap error, no reset,
the kept messages replayed from the oldest one, ``truncated`` said, history ending there."""

from __future__ import annotations

import time

from rtserver.retention.policy import Kind


async def test_a_resume_across_deleted_messages_replays_the_kept_ones_with_truncated(harness):
    await _resume_across_deleted_messages(harness, harness)


async def test_on_two_redis_nodes_a_resume_on_the_other_node_replays_the_kept_ones(redis_nodes):
    await _resume_across_deleted_messages(*redis_nodes)  # the stream trimmed by id, read by another node


async def _resume_across_deleted_messages(harness, other):
    await harness.room("grp", {"a": "member", "b": "member"})
    a = await harness.client("a")
    await a.join("grp")
    for i in range(1, 6):
        await a.send("grp", f"old{i}")
    reaper = harness.node.backends.store.reapers()[Kind.MESSAGES]
    deleted, _ = await reaper.delete_due(int(time.time() * 1000) + 1, 100, "")  # everything so far is due
    assert deleted == 5
    for i in range(6, 9):
        await a.send("grp", f"new{i}")

    b = await other.client("b")
    joined = await b.request("join", room="grp", after=2, epoch=(await a.request("rooms"))["rooms"][0]["epoch"])
    assert (joined["head"], joined["replay"], joined["truncated"]) == (8, 3, True)
    assert not joined.get("reset")
    offsets = [(await b.next_event("message", timeout=5))["offset"] for _ in range(3)]
    assert offsets == [6, 7, 8]
    history = await b.history("grp", before=6)
    assert history["messages"] == [] and history["more"] is False
    sent = await a.send("grp", "live")
    assert sent["offset"] == 9 and (await b.next_event("message", timeout=5))["offset"] == 9
