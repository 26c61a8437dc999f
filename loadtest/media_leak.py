"""Join/leave cycles against the server: does anything stay behind?

Each cycle, an advisor and a jobseeker join one interview, publish, and wait until each receives
the other's audio and video (ICE, DTLS and forwarding all up), then leave and close everything.
The server's resident memory and threads (``/proc/PID/status``), open file descriptors
(``/proc/PID/fd``), asyncio tasks (``rtserver_asyncio_tasks``) and media gauges (``/metrics``) are
read after a few warm-up cycles ("before"), half-way, and at the end ("after"), each time once
the server reports no interview and no peer connection left.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from typing import Any

import aiohttp

from .media_clip import Clip
from .media_peers import SfuPeer
from .media_probe import SendStamps, Window
from .server import Target, create_rooms, scrape_metrics

__all__ = ["leak_check", "server_state"]

SETTLE_TIMEOUT_S = 15.0
CYCLE_TIMEOUT_S = 20.0
TASK_SAMPLES = 8
TASK_SAMPLE_GAP_S = 0.25
RSS_EVERY = 10  # cycles between two RSS readings of the trend


def _proc_status(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                out["rss_kib"] = int(line.split()[1])
            elif line.startswith("Threads:"):
                out["threads"] = int(line.split()[1])
    out["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
    return out


async def server_state(session: aiohttp.ClientSession, target: Target) -> dict[str, Any]:
    """The server's footprint once it holds no interview and no peer connection (waits up to 15 s)."""
    assert target.pid is not None
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        metrics = await scrape_metrics(session, target)
        idle = metrics.get("rtserver_media_rooms") == 0 and metrics.get("rtserver_media_peer_connections") == 0
        if idle or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    # Tasks come and go (timers, a closing connection's last steps): the fewest seen over a second
    # or two is the baseline, and a leak raises it.
    tasks = [metrics.get("rtserver_asyncio_tasks", -1.0)]
    for _ in range(TASK_SAMPLES - 1):
        await asyncio.sleep(TASK_SAMPLE_GAP_S)
        tasks.append((await scrape_metrics(session, target)).get("rtserver_asyncio_tasks", -1.0))
    return {**_proc_status(target.pid), "tasks": int(min(tasks)), "tasks_max": int(max(tasks)),
            "rooms": int(metrics.get("rtserver_media_rooms", -1)),
            "peer_connections": int(metrics.get("rtserver_media_peer_connections", -1)),
            "participants": int(metrics.get("rtserver_media_participants", -1)), "settled": idle}


async def _cycle(target: Target, room: str, clip: Clip) -> None:
    window = Window()
    stamps: dict[str, SendStamps] = {}
    peers = [SfuPeer(target.url, target.secret, role, f"{role}-leak", room, clip, window, stamps)
             for role in ("advisor", "jobseeker")]
    try:
        async def flowing() -> None:
            for peer in peers:
                await peer.start()
            await asyncio.gather(*(peer.wait_flowing() for peer in peers))

        await asyncio.wait_for(flowing(), CYCLE_TIMEOUT_S)
        for peer in peers:
            await asyncio.wait_for(peer.leave(), CYCLE_TIMEOUT_S)
    finally:
        for peer in peers:
            await peer.close()


async def leak_check(session: aiohttp.ClientSession, target: Target, clip: Clip, *, cycles: int, warmup: int,
                     run_id: str, rss_slack_kib: int) -> dict[str, Any]:
    room = f"leak-{run_id}"
    await create_rooms(session, target, [{"id": room, "kind": "conversation",
                                          "members": [{"user": "advisor-leak"}, {"user": "jobseeker-leak"}]}])
    for _ in range(warmup):
        await _cycle(target, room, clip)
    gc.collect()
    before = await server_state(session, target)
    started = time.monotonic()
    middle: dict[str, Any] = {}
    trend = [before["rss_kib"]]
    for i in range(cycles):
        await _cycle(target, room, clip)
        if i + 1 == cycles // 2:
            middle = await server_state(session, target)
        elif (i + 1) % RSS_EVERY == 0:
            trend.append(_proc_status(target.pid)["rss_kib"])
    seconds = round(time.monotonic() - started, 1)
    after = await server_state(session, target)
    same = all(after[k] == before[k] for k in ("threads", "tasks", "fds", "peer_connections", "rooms"))
    second_half_kib = after["rss_kib"] - middle.get("rss_kib", before["rss_kib"])
    return {"cycles": cycles, "warmup_cycles": warmup, "seconds": seconds, "before": before, "middle": middle,
            "after": after, "rss_trend_kib": trend, "rss_growth_kib": after["rss_kib"] - before["rss_kib"],
            "rss_growth_second_half_kib": second_half_kib, "rss_slack_kib": rss_slack_kib,
            "pass": same and after["settled"] and second_half_kib <= rss_slack_kib}
