"""Who may stay in an interview: membership is decided on every media request and on removal,
from the store, never from what was true when the call began.

Real nodes and real aiortc peers (tests/media_peers.py). An advisor transferred away (or removed
through the HTTP API) leaves the interview at once, on whichever node hosts it, with the guests
he invited; his requests are refused, and he and his late guests cannot come back. The module's
node heartbeat is long (30 s) so that what is checked is the removal itself; the heartbeat's own
re-check has a test of its own with a short one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from conftest import Harness
from media_peers import MediaPeer
from workflow_support import follow, users

from rtserver.client import ServerError

pytestmark = pytest.mark.timeout(90)

NO_HEARTBEAT = {"media_listen_address": "127.0.0.1", "media_drop_timeout_s": 1.0, "node_heartbeat_s": 30.0,
                "media_owner_lease_s": 90.0, "presence_ttl_s": 90.0}
SHORT_HEARTBEAT = {**NO_HEARTBEAT, "node_heartbeat_s": 0.2, "media_owner_lease_s": 1.0, "presence_ttl_s": 1.0}

MakePeer = Callable[..., Awaitable[MediaPeer]]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return NO_HEARTBEAT


@pytest.fixture
async def peer() -> AsyncIterator[MakePeer]:
    made: list[MediaPeer] = []

    async def make(harness: Harness, user: str, role: str, room: str, colour: str = "grey") -> MediaPeer:
        made.append(MediaPeer(await harness.client(user, role), room, colour=colour))
        return made[-1]

    yield make
    for p in made:
        await p.close()


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def followed(harness: Harness) -> str:
    """js-1 followed by adv-old (adv-new waiting to take over); returns their conversation's id."""
    await users(harness, ("adv-old", "advisor", ""), ("adv-new", "advisor", ""), ("js-1", "jobseeker", ""))
    return str((await follow(harness, "js-1", "adv-old"))["room"])


async def transfer(harness: Harness) -> None:
    status, data = await harness.api("POST", "/api/followups/js-1/transfer", {"advisor": "adv-new"})
    assert status == 200, data


def left(user: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["user"] == user and e["event"] == "left"


async def assert_refused(peer: MediaPeer, type_: str, codes: tuple[str, ...], **fields: Any) -> None:
    with pytest.raises(ServerError) as refused:
        await peer.client.request(type_, room=peer.room, **fields)
    assert refused.value.code in codes, (type_, refused.value)


async def test_a_transfer_ends_the_old_advisors_interview_and_his_guests(harness: Harness, peer: MakePeer) -> None:
    room = await followed(harness)
    old = await peer(harness, "adv-old", "advisor", room, "red")
    js = await peer(harness, "js-1", "jobseeker", room, "blue")
    await old.join()
    await old.publish()
    await js.join()
    await js.publish()
    await old.wait_frames("js-1", "video", 5)
    await js.wait_frames("adv-old", "video", 5)
    await old.client.request("media_invite", room=room, user="interp")
    await old.client.request("media_invite", room=room, user="interp-late")
    interp = await peer(harness, "interp", "jobseeker", room, "green")
    assert (await interp.join())["role"] == "guest"
    server_room = harness.media.rooms[room]
    removed = server_room.participants["adv-old"]

    await transfer(harness)
    closed = await old.wait_event("media_closed", timeout=5)
    assert closed == {"type": "media_closed", "room": room, "reason": "removed"}
    closed = await interp.wait_event("media_closed", timeout=5)
    assert closed["reason"] == "inviter_removed"
    gone = await js.wait_event("media_participant", left("adv-old"))
    assert gone["reason"] == "removed"
    assert (await js.wait_event("media_participant", left("interp")))["reason"] == "inviter_removed"
    assert set(server_room.participants) == {"js-1"}
    await eventually(lambda: removed.publisher.pc is None and removed.subscriber.pc is None)
    frames = old.frames_from("js-1", "video")
    seen = len(old.events)

    # Nothing he asks of the interview is served, and neither he nor a guest of his gets back in.
    sdp = old.publish_pc.localDescription.sdp  # type: ignore[union-attr]
    for type_, fields in (("media_stats", {}), ("media_invite", {"user": "someone"}), ("media_offer", {"sdp": sdp}),
                          ("media_restart", {}), ("media_receive", {"video": True})):
        await assert_refused(old, type_, ("forbidden", "not_joined"), **fields)
    await assert_refused(old, "media_join", ("forbidden",))
    late = await peer(harness, "interp-late", "jobseeker", room, "grey")
    await assert_refused(late, "media_join", ("forbidden",))

    # The jobseeker's interview goes on with the new advisor, without him.
    new = await peer(harness, "adv-new", "advisor", room, "grey")
    joined = await new.join()
    assert [p["user"] for p in joined["participants"]] == ["js-1"]
    await new.publish()
    await new.wait_frames("js-1", "video", 30)
    await js.wait_frames("adv-new", "video", 5)
    assert old.frames_from("js-1", "video") <= frames + 10  # at most what was in flight, not 30 more
    assert [e["type"] for e in old.events[seen:]] == []  # no media_participant, media_tracks, media_offer
    await new.client.request("media_invite", room=room, user="interp-late")  # the new advisor's guest is welcome
    assert (await late.join())["role"] == "guest"


@pytest.mark.parametrize(("type_", "fields"), [
    ("media_stats", {}), ("media_invite", {"user": "someone"}), ("media_offer", {"sdp": "v=0"}),
    ("media_answer", {"sdp": "v=0"}), ("media_candidate", {"pc": "publish", "candidate": None}),
    ("media_restart", {}), ("media_receive", {"video": False})])
async def test_every_media_request_checks_membership_in_the_store(harness: Harness, peer: MakePeer, type_: str,
                                                                  fields: dict[str, Any]) -> None:
    await harness.room("iv", {"adv": "member", "js": "member"}, kind="conversation")
    adv = await peer(harness, "adv", "advisor", "iv", "red")
    js = await peer(harness, "js", "jobseeker", "iv", "blue")
    await adv.join()
    await js.join()
    # Removed behind the node's back (as if the notice of it was lost): his next request finds out.
    await harness.node.backends.store.remove_member("iv", "adv")
    await assert_refused(adv, type_, ("forbidden",), **fields)
    assert (await adv.wait_event("media_closed"))["reason"] == "removed"
    assert (await js.wait_event("media_participant", left("adv")))["reason"] == "removed"
    assert set(harness.media.rooms["iv"].participants) == {"js"}


@pytest.mark.parametrize("settings_overrides", [SHORT_HEARTBEAT])
async def test_the_heartbeat_finds_a_removal_nobody_was_told_about(harness: Harness, peer: MakePeer) -> None:
    await harness.room("iv", {"adv": "member", "js": "member"}, kind="conversation")
    adv = await peer(harness, "adv", "advisor", "iv", "red")
    js = await peer(harness, "js", "jobseeker", "iv", "blue")
    await adv.join()
    await js.join()
    await adv.client.request("media_invite", room="iv", user="interp")
    interp = await peer(harness, "interp", "jobseeker", "iv", "green")
    await interp.join()
    await harness.node.backends.store.remove_member("iv", "adv")  # no event, no request from him
    assert (await adv.wait_event("media_closed", timeout=3))["reason"] == "removed"
    assert (await interp.wait_event("media_closed", timeout=3))["reason"] == "inviter_removed"
    await eventually(lambda: set(harness.media.rooms["iv"].participants) == {"js"})


@pytest.mark.parametrize("removed_on_host", [False, True], ids=["removed-user-on-forwarding-node",
                                                                 "removed-user-on-hosting-node"])
async def test_a_removal_through_any_node_reaches_the_hosting_node(redis_nodes: list[Harness], peer: MakePeer,
                                                                    removed_on_host: bool) -> None:
    """Node A hosts the interview; the removal goes through node B's HTTP API, and nobody has
    joined the conversation's chat, so no node hears of it as a chat member."""
    a, b = redis_nodes
    room = await followed(a)
    if removed_on_host:
        old = await peer(a, "adv-old", "advisor", room, "red")
        await old.join()  # first: node A hosts
        js = await peer(b, "js-1", "jobseeker", room, "blue")
        await js.join()
    else:
        js = await peer(a, "js-1", "jobseeker", room, "blue")
        await js.join()
        old = await peer(b, "adv-old", "advisor", room, "red")
        await old.join()
    await old.publish()
    await js.wait_frames("adv-old", "video", 5)
    await old.client.request("media_invite", room=room, user="interp")
    interp = await peer(b, "interp", "jobseeker", room, "green")
    await interp.join()
    assert room in a.media.rooms and b.media.rooms == {}

    await transfer(b)
    assert (await old.wait_event("media_closed", timeout=5))["reason"] == "removed"
    assert (await interp.wait_event("media_closed", timeout=5))["reason"] == "inviter_removed"
    assert (await js.wait_event("media_participant", left("adv-old")))["reason"] == "removed"
    assert set(a.media.rooms[room].participants) == {"js-1"}
    await assert_refused(old, "media_stats", ("forbidden", "not_joined"))
    await assert_refused(old, "media_invite", ("forbidden", "not_joined"), user="someone")
    await assert_refused(old, "media_join", ("forbidden",))
    await assert_refused(interp, "media_join", ("forbidden",))
