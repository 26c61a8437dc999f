"""The fallback across nodes (two nodes, a real redis-server): the jobseeker's WebSocket is on the
node that does not host the interview; his reports reach the host, which decides, and its events
reach him through his node."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import Harness
from media_peers import MediaPeer
from test_media_fallback import FAST, fallback, link_of, packets_stop

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {**FAST, "node_heartbeat_s": 0.2, "presence_ttl_s": 1.0, "media_owner_lease_s": 1.0}


@pytest.fixture
async def peers(redis_nodes: list[Harness]) -> AsyncIterator[list[MediaPeer]]:
    made: list[MediaPeer] = []
    yield made
    for p in made:
        await p.close()


async def test_a_forwarded_participants_reports_reach_the_host_and_its_events_reach_him(
        redis_nodes: list[Harness], peers: list[MediaPeer]) -> None:
    host, other = redis_nodes
    await host.room("iv", {"adv": "member", "js": "member"}, kind="conversation")
    adv = MediaPeer(await host.client("adv", "advisor"), "iv", colour="red")
    js = MediaPeer(await other.client("js", "jobseeker"), "iv", colour="blue")
    peers += [adv, js]
    await adv.join()
    await adv.publish()
    joined = await js.join()
    assert joined["report_every_ms"] == FAST["media_report_every_ms"]
    await js.publish()
    await js.wait_frames("adv", "video", 5)
    assert "iv" in host.media.rooms and other.media.rooms == {}

    js.start_reports()
    js.fake_receive["adv"] = {"fps": 1.0}
    event = await js.wait_event("media_fallback", fallback("js", "receive", False), timeout=15)
    assert event["reason"] == "low_framerate"
    await adv.wait_event("media_fallback", fallback("js", "receive", False))
    await js.wait_event("media_link", lambda e: link_of(e, "js")["receive"]["video"] is False,
                        after=js.events.index(event))
    assert host.media.link_counts.fallbacks == {("receive", "low_framerate"): 1}
    await packets_stop(lambda: js.video_packets)
    await js.wait_frames("adv", "audio", 20)

    js.fake_receive.clear()
    await js.wait_event("media_fallback", fallback("js", "receive", True), timeout=15)
    await js.wait_frames("adv", "video", 10)
