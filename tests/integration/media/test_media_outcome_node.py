"""Interview outcomes end to end: real aiortc peers in an interview on a real node, the summary read
back through the portal API (and /metrics), on SQLite and on two nodes sharing a real redis-server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from conftest import Harness
from media_peers import MediaPeer
from redis_server import redis_available

from rtserver.outcomes.api import OUTCOMES_KEY

pytestmark = pytest.mark.timeout(90)

MakePeer = Callable[..., Awaitable[MediaPeer]]


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"media_listen_address": "127.0.0.1", "media_drop_timeout_s": 1.0,
            "interview_outcomes_checkpoint_s": 0.2}


@pytest.fixture
async def peers() -> AsyncIterator[list[MediaPeer]]:
    made: list[MediaPeer] = []
    yield made
    for p in made:
        await p.close()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def interview(portal: Harness, peers: list[MediaPeer], adv_node: Harness, js_node: Harness,
                    room: str = "iv") -> tuple[MediaPeer, MediaPeer]:
    """An advisor and a jobseeker in a conversation, each receiving the other's video."""
    await portal.room(room, {"adv": "member", "js": "member"}, kind="conversation")
    adv = MediaPeer(await adv_node.client("adv", "advisor"), room, colour="red")
    peers.append(adv)
    js = MediaPeer(await js_node.client("js", "jobseeker"), room, colour="blue")
    peers.append(js)
    await adv.join()
    await adv.publish()
    await js.join()
    await js.publish()
    await js.wait_frames("adv", "video", 5)
    await adv.wait_frames("js", "video", 5)
    return adv, js


async def recorded(node: Harness, advisor: str = "adv") -> list[dict[str, Any]]:
    status, data = await node.api("GET", f"/api/advisors/{advisor}/interviews")
    assert status == 200, data
    return data["interviews"]


async def closed_and_written(host: Harness, room: str = "iv") -> None:
    async def gone() -> bool:
        return room not in host.media.rooms
    await eventually(gone)
    await host.app[OUTCOMES_KEY].flush()


def assert_clean(record: dict[str, Any], *, min_video_s: float) -> None:
    assert record["outcome"] == "clean" and record["problems"] == [] and record["ended_by"] == "normal", record
    assert record["room"] == "iv" and record["advisor"] == "adv" and record["participants"] == 2
    assert 0 <= record["connect_s"] < 5  # loopback: ICE and DTLS take well under a second
    assert record["video_s"] >= min_video_s and record["audio_s"] == record["frozen_s"] == 0
    assert record["fallbacks"] == record["reconnections"] == 0
    assert record["ended"] >= record["started"] + 1000 * record["video_s"] - 100
    assert "name" not in record and "js" not in repr({k: v for k, v in record.items() if k != "room"})


async def test_an_interview_ended_by_media_leave_is_clean(harness: Harness, peers: list[MediaPeer]) -> None:
    adv, js = await interview(harness, peers, harness, harness)
    started = time.monotonic()
    await js.wait_frames("adv", "video", 30)  # about a second of call
    await js.leave()
    await adv.leave()
    held = time.monotonic() - started
    await closed_and_written(harness)
    [record] = await recorded(harness)
    assert_clean(record, min_video_s=held * 0.8)
    assert record["video_s"] <= record["duration_s"]

    status, totals = await harness.api("GET", "/api/interviews/outcomes")
    assert status == 200 and totals["counts"] == {"clean": 1, "degraded": 0, "failed": 0, "unattended": 0}
    assert totals["problem_share"] == 0.0 and totals["with_problems"] == 0
    status, empty = await harness.api("GET", f"/api/interviews/outcomes?since={record['started'] + 1}")
    assert status == 200 and empty["total"] == 0 and empty["problem_share"] is None
    async with harness.session.get(harness.url("/metrics")) as resp:
        metrics = await resp.text()
    assert 'rtserver_interviews_total{outcome="clean"} 1.0' in metrics
    assert 'rtserver_interviews_total{outcome="failed"} 0.0' in metrics
    assert "rtserver_interview_connect_seconds_count 1.0" in metrics
    assert 'rtserver_interview_degraded_seconds_bucket{le="0.0"} 1.0' in metrics
    assert "adv" not in "".join(ln for ln in metrics.splitlines() if "interview" in ln)  # no user in labels


async def test_a_jobseeker_who_drops_and_never_returns_fails_the_interview(harness: Harness,
                                                                          peers: list[MediaPeer]) -> None:
    adv, js = await interview(harness, peers, harness, harness)
    await js.close()  # the page is gone: no media_leave; removed after media_drop_timeout_s (1 s)
    await adv.wait_event("media_participant", lambda e: e["event"] == "left" and e["user"] == "js", timeout=5)
    await adv.leave()
    await closed_and_written(harness)
    [record] = await recorded(harness)
    assert record["outcome"] == "failed" and record["ended_by"] == "timeout", record
    assert record["problems"] == ["ended_abnormally"] and (record["drops"], record["lost"]) == (1, 1)
    status, totals = await harness.api("GET", "/api/interviews/outcomes?advisor=adv")
    assert status == 200 and totals["counts"]["failed"] == 1 and totals["problem_share"] == 1.0


async def test_a_node_shutdown_is_recorded(harness: Harness, peers: list[MediaPeer]) -> None:
    await interview(harness, peers, harness, harness)
    await harness.media.close()
    await closed_and_written(harness)
    [record] = await recorded(harness)
    assert record["outcome"] == "failed" and record["ended_by"] == "shutdown", record


async def test_bad_parameters_are_refused(harness: Harness) -> None:
    for path in ("/api/advisors/adv/interviews?since=5&until=5", "/api/advisors/adv/interviews?since=-1",
                 "/api/advisors/adv/interviews?limit=x", "/api/interviews/outcomes?until=99999999999999999999",
                 "/api/interviews/outcomes?advisor=a%20b", "/api/advisors/a%0Ab/interviews"):
        status, data = await harness.api("GET", path)
        assert status == 400 and data["error"]["code"] == "invalid_message", (path, data)
    status, data = await harness.api("GET", "/api/advisors/adv/interviews?limit=100000")
    assert status == 200 and data["interviews"] == []  # a page asked too large is the largest page


@pytest.mark.skipif(not redis_available(), reason="redis-server is not installed (scripts/test installs it)")
async def test_across_two_nodes_on_redis_the_host_records_and_every_node_reads(
        redis_nodes: list[Harness], peers: list[MediaPeer]) -> None:
    host, other = redis_nodes
    adv, js = await interview(host, peers, host, other)  # the advisor's join claims the interview for host
    assert "iv" in host.media.rooms and "iv" not in other.media.rooms

    async def checkpointed() -> bool:  # what would remain if the host died now
        records = await recorded(other)
        return bool(records) and records[0]["ended_by"] == "host_lost" and records[0]["video_s"] > 0
    await eventually(checkpointed)

    await js.leave()
    await adv.leave()
    await closed_and_written(host)
    [record] = await recorded(other)  # the checkpoint was replaced
    assert_clean(record, min_video_s=0.1)
    status, totals = await other.api("GET", "/api/interviews/outcomes")
    assert status == 200 and totals["counts"]["clean"] == 1 and totals["total"] == 1


@pytest.mark.skipif(not redis_available(), reason="redis-server is not installed (scripts/test installs it)")
async def test_on_redis_a_host_shutting_down_writes_its_interviews_before_its_store_closes(
        redis_nodes: list[Harness], peers: list[MediaPeer]) -> None:
    host, other = redis_nodes
    await interview(host, peers, host, other)
    await host.server.close()  # the rooms close (shutdown), then their records are written, then Redis goes
    records = await recorded(other)
    assert [(r["outcome"], r["ended_by"]) for r in records] == [("failed", "shutdown")]
