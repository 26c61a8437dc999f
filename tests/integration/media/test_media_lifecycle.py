"""Lifecycle: many join/leave cycles leave no task, thread, socket or peer connection behind;
shutting the node down closes every peer connection."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiortc import RTCPeerConnection
from conftest import Harness
from media_peers import MediaPeer

from rtserver.gcpolicy import NODE_GC_THRESHOLDS
from rtserver.media.participant import Participant
from rtserver.media.track import DownTrack, Publication

pytestmark = pytest.mark.timeout(90)

CYCLES = 50


@pytest.fixture
def node_gc() -> Any:
    """The collector thresholds ``rtserver serve`` runs with: full collections almost never run by themselves."""
    previous = gc.get_threshold()
    gc.collect()
    gc.set_threshold(*NODE_GC_THRESHOLDS)
    yield
    gc.set_threshold(*previous)


def alive(cls: type) -> int:
    """Instances in memory, garbage included (no collection here)."""
    return sum(isinstance(o, cls) for o in gc.get_objects())


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # cycles run faster than a person clicks: lift the per-connection request rate limit
    return {"media_listen_address": "127.0.0.1", "media_drop_timeout_s": 1.0, "max_messages_per_s": 1000.0,
            "burst_messages": 1000}


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def census() -> dict[str, int]:
    gc.collect()
    objects = gc.get_objects()
    return {
        "tasks": len(asyncio.all_tasks()),
        # the loop's default executor (aiortc encodes in it) grows up to its bounded size on demand
        "threads": sum(not t.name.startswith("asyncio_") for t in threading.enumerate()),
        "fds": len(os.listdir("/proc/self/fd")),
        "peer_connections": sum(isinstance(o, RTCPeerConnection) for o in objects),
        "publications": sum(isinstance(o, Publication) for o in objects),
        "downtracks": sum(isinstance(o, DownTrack) for o in objects),
    }


async def settle(expected: dict[str, int], timeout: float = 10.0) -> dict[str, int]:
    """Wait (bounded) for the counts to come back; return the last census."""
    deadline = time.monotonic() + timeout
    while True:
        now = census()
        if all(now[k] <= expected[k] for k in expected) or time.monotonic() > deadline:
            return now
        await asyncio.sleep(0.1)


async def test_join_leave_cycles_leak_nothing(harness: Harness, node_gc: None) -> None:
    await harness.room("iv", {"adv": "member", "js": "member"}, kind="conversation")
    adv = MediaPeer(await harness.client("adv", "advisor"), "iv", colour="red")
    js = MediaPeer(await harness.client("js", "jobseeker"), "iv", colour="blue")
    media = harness.media
    try:
        await adv.join()
        await adv.publish()

        async def cycle(check_media: bool) -> None:
            await js.join()
            offers = adv.offers
            await js.publish()
            room = media.rooms["iv"]
            # every cycle: js's media reaches the server (ICE and DTLS up) and adv answered the new offer
            await eventually(lambda: all(p.inbound is not None and p.inbound.packets > 0
                                         for p in room.publications_of("js")) and adv.offers > offers)
            if check_media:  # decoding both ways each time would dominate the run: every 10th cycle
                await adv.wait_frames("js", "video", 1)
                await js.wait_frames("adv", "video", 1)
            await js.leave()

        await cycle(True)  # warm-up: codecs, the advisor's subscribe sections
        await asyncio.sleep(0.3)
        baseline = await settle(census(), timeout=0)
        started = time.monotonic()
        for i in range(CYCLES):
            await cycle(i % 10 == 9)
        elapsed = time.monotonic() - started
        # Closed participants are cyclic garbage (aiortc's peer connections are cycles): the
        # service's own full collection frees them, not a collection by this test.
        collections = media.collection.collections
        await eventually(lambda: media.collection.collections > collections and alive(Participant) == 1,
                         timeout=15.0)
        after = await settle(baseline)
        print(f"{CYCLES} join/publish/leave cycles in {elapsed:.1f} s; census {after}")
        assert after == baseline, f"after {CYCLES} cycles ({elapsed:.1f} s): {after} != {baseline}"
        assert media.peer_connections() == 2  # the advisor's two
        assert len(media.rooms["iv"].participants["adv"].subscriber.downtracks) == 2  # sections reused
    finally:
        await js.close()
        await adv.close()
    await settle({"peer_connections": 0}, timeout=5)
    assert not media.rooms and media.peer_connections() == 0


async def test_shutdown_closes_every_peer_connection(harness: Harness) -> None:
    await harness.room("iv", {"adv": "member", "js": "member"}, kind="conversation")
    adv = MediaPeer(await harness.client("adv", "advisor"), "iv", colour="red")
    js = MediaPeer(await harness.client("js", "jobseeker"), "iv", colour="blue")
    try:
        await adv.join()
        await adv.publish()
        await js.join()
        await js.publish()
        await adv.wait_frames("js", "video", 1)
        room = harness.media.rooms["iv"]
        server_pcs = [pc for p in room.participants.values() for pc in (p.publisher.pc, p.subscriber.pc)]
        await harness.media.close()
        assert all(pc.connectionState == "closed" for pc in server_pcs)
        assert not harness.media.rooms
        closed = await adv.wait_event("media_closed")
        assert closed["reason"] == "shutdown"
    finally:
        await js.close()
        await adv.close()
