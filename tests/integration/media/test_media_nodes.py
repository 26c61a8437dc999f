"""Interviews across two nodes sharing a real redis-server: one node hosts, the other forwards.

Both nodes run in this process (so the test can see which one holds the interview); they share
nothing but Redis. The advisor's WebSocket is on node A, the jobseeker's on node B: the first
``media_join`` claims the interview for A, B forwards the jobseeker's signalling to A, and the
media goes straight between each peer and A. Real aiortc peers encode and decode on loopback.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from conftest import API_KEY, make_settings
from media_peers import COLOURS, MediaPeer, close_to
from redis_server import RedisServer, redis_available

from rtserver.app import build_app
from rtserver.auth import mint_token
from rtserver.client import Client, ServerError
from rtserver.compose import COMPOSITION_KEY
from rtserver.node.ws import NODE_KEY

pytestmark = [pytest.mark.timeout(90),
              pytest.mark.skipif(not redis_available(), reason="redis-server is not installed (scripts/test does it)")]

HEARTBEAT_S = 0.2
LEASE_S = 1.0


class TwoNodes:
    def __init__(self, servers: list[TestServer], secret: str, session: aiohttp.ClientSession):
        self.servers = servers
        self.secret = secret
        self.session = session
        self.peers: list[MediaPeer] = []

    def node(self, i: int) -> Any:
        return self.servers[i].app[NODE_KEY]

    def media(self, i: int) -> Any:
        return self.servers[i].app[COMPOSITION_KEY].media

    def routing(self, i: int) -> Any:
        return self.servers[i].app[COMPOSITION_KEY].media_routing

    async def room(self, room_id: str, members: dict[str, str]) -> None:
        body = {"id": room_id, "kind": "conversation", "members": [{"user": u, "role": "member"} for u in members]}
        async with self.session.post(str(self.servers[0].make_url("/api/rooms")), json=body,
                                     headers={"X-Api-Key": API_KEY}) as resp:
            assert resp.status == 201, await resp.text()

    async def peer(self, i: int, user: str, role: str, room: str, colour: str) -> MediaPeer:
        client = Client(str(self.servers[i].make_url("/ws")),
                        token=mint_token(secret=self.secret, user_id=user, role=role, ttl_s=600))
        await client.connect()
        self.peers.append(MediaPeer(client, room, colour=colour))
        return self.peers[-1]


@pytest.fixture
async def nodes(tmp_path: Path, aiohttp_server: Callable[..., Awaitable[TestServer]]) -> AsyncIterator[TwoNodes]:
    redis = RedisServer(tmp_path / "redis")
    redis.start()
    servers = []
    try:
        first = make_settings(tmp_path, store=redis.url, media_listen_address="127.0.0.1", media_drop_timeout_s=1.0,
                              node_heartbeat_s=HEARTBEAT_S, presence_ttl_s=1.0, media_owner_lease_s=LEASE_S,
                              media_forward_timeout_s=5.0)
        for _ in range(2):
            servers.append(await aiohttp_server(build_app(first), host="127.0.0.1"))
        async with aiohttp.ClientSession() as session:
            two = TwoNodes(servers, first.secret, session)
            yield two
            for p in two.peers:
                await p.close()
                await p.client.close()
    finally:
        for server in servers:
            await server.close()
        redis.kill()


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def interview_across(nodes: TwoNodes, room: str = "iv") -> tuple[MediaPeer, MediaPeer]:
    await nodes.room(room, {"adv": "member", "js": "member"})
    adv = await nodes.peer(0, "adv", "advisor", room, "red")
    js = await nodes.peer(1, "js", "jobseeker", room, "blue")
    await adv.join()
    await adv.publish()
    joined = await js.join()
    assert [p["user"] for p in joined["participants"]] == ["adv"]
    await js.publish()
    await js.wait_frames("adv", "video", 5)
    await adv.wait_frames("js", "video", 5)
    return adv, js


async def test_an_interview_spans_two_nodes_and_is_hosted_by_one(nodes: TwoNodes) -> None:
    adv, js = await interview_across(nodes)
    host, forwarder = nodes.node(0), nodes.node(1)
    assert set(nodes.media(0).rooms["iv"].participants) == {"adv", "js"}
    assert nodes.media(1).rooms == {}  # the jobseeker's node holds no peer connection
    registry = forwarder.metrics.registry
    assert registry.get_sample_value("rtserver_media_forwarded_requests_total", {"outcome": "ok"}) >= 2
    assert host.metrics.registry.get_sample_value("rtserver_media_remote_connections") == 1
    assert close_to(adv.colour_from("js"), COLOURS["blue"]) and close_to(js.colour_from("adv"), COLOURS["red"])
    await js.wait_frames("adv", "audio", 10)
    assert js.level_from("adv") > 0.01

    # Events reach the forwarded participant too: the advisor turns the camera off.
    await adv.set_video(False)
    event = await js.wait_event("media_tracks", lambda e: e["user"] == "adv")
    assert [t["kind"] for t in event["tracks"]] == ["audio"]

    # Leaving through the forwarding node takes the jobseeker out of the hosting node's room.
    await js.leave()
    left = await adv.wait_event("media_participant", lambda e: e["event"] == "left")
    assert left["user"] == "js" and left["reason"] == "left"
    assert set(nodes.media(0).rooms["iv"].participants) == {"adv"}


async def test_an_event_that_overtakes_the_join_reply_reaches_the_client_after_it(nodes: TwoNodes) -> None:
    """The host's first offer to a forwarded participant may be handled on the forwarding node
    before the join's reply has resumed the request waiting for it (both cross Redis; the reply
    only wakes that request on a later loop turn). Here an event is made to arrive in that gap:
    the client must get it, and after the reply."""
    await nodes.room("iv", {"adv": "member", "js": "member"})
    adv = await nodes.peer(0, "adv", "advisor", "iv", "red")
    await adv.join()
    routing = nodes.routing(1)
    probe = {"type": "media_participant", "room": "iv", "user": "probe", "event": "joined"}

    def reply_then_event(message: dict[str, Any]) -> None:
        routing._on_message(message)
        if message.get("op") == "reply":
            for conn_id in list(routing._early):  # the connection whose join this answers
                routing._on_message({"op": "event", "conn": conn_id, "event": probe})

    await routing._broker.listen_node(routing.node_id, reply_then_event)
    client = Client(str(nodes.servers[1].make_url("/ws")),
                    token=mint_token(secret=nodes.secret, user_id="js", role="jobseeker", ttl_s=600))
    await client.connect()
    try:
        joined = await client.request("media_join", room="iv")
        assert [p["user"] for p in joined["participants"]] == ["adv"]
        event = await client.next_event("media_participant", timeout=5, where=lambda e: e["user"] == "probe")
        assert event == probe
    finally:
        await client.close()


async def test_errors_from_the_hosting_node_reach_the_client(nodes: TwoNodes) -> None:
    await nodes.room("iv", {"adv": "member", "js": "member"})
    adv = await nodes.peer(0, "adv", "advisor", "iv", "red")
    await adv.join()
    intruder = await nodes.peer(1, "mallory", "jobseeker", "iv", "grey")
    with pytest.raises(ServerError) as refused:
        await intruder.join()
    assert refused.value.code == "forbidden"
    js = await nodes.peer(1, "js", "jobseeker", "iv", "blue")
    await js.join()
    with pytest.raises(ServerError) as advisors_only:  # refused by the host: only advisors see the statistics
        await js.client.request("media_stats", room="iv")
    assert advisors_only.value.code == "forbidden"


async def join_again(peer: MediaPeer) -> dict[str, Any]:
    """What a client does after ``media_closed``: join again, waiting out ``unavailable`` as told."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return await peer.join()
        except ServerError as exc:
            assert exc.code == "unavailable" and time.monotonic() < deadline, exc
            await asyncio.sleep((exc.retry_after_ms or 500) / 1000)


async def test_the_interview_moves_when_its_node_shuts_down(nodes: TwoNodes) -> None:
    _adv, js = await interview_across(nodes)
    await nodes.servers[0].close()  # closes its interviews, then lets them go
    closed = await js.wait_event("media_closed")
    assert closed["reason"] == "shutdown"
    # Joining again claims the interview for the jobseeker's own node, and media flows there.
    rejoined = await join_again(js)
    assert rejoined["participants"] == []
    assert set(nodes.media(1).rooms["iv"].participants) == {"js"}
    await js.publish(restart=True)
    await eventually(lambda: bool(nodes.media(1).rooms["iv"].publications_of("js")))


async def test_the_jobseeker_moves_on_when_the_hosting_node_dies(nodes: TwoNodes) -> None:
    _adv, js = await interview_across(nodes)
    ticker = nodes.routing(0)._ticker
    ticker.cancel()  # the host stops renewing its lease, as a frozen or dead node would
    await asyncio.gather(ticker, return_exceptions=True)
    closed = await js.wait_event("media_closed", timeout=LEASE_S + 5)
    assert closed["reason"] == "host_lost"
    rejoined = await join_again(js)
    assert rejoined["participants"] == [] and "iv" in nodes.media(1).rooms


async def test_a_forwarded_participant_whose_node_goes_silent_is_dropped(nodes: TwoNodes) -> None:
    adv, _js = await interview_across(nodes)
    ticker = nodes.routing(1)._ticker
    ticker.cancel()  # the forwarding node stops reporting its connections, as a frozen or dead node would
    await asyncio.gather(ticker, return_exceptions=True)
    dropped = await adv.wait_event("media_participant", lambda e: e["user"] == "js" and e["event"] == "dropped")
    assert dropped["timeout_ms"] == 1000
    left = await adv.wait_event("media_participant", lambda e: e["user"] == "js" and e["event"] == "left")
    assert left["reason"] == "timeout"


async def test_a_pre_call_echo_room_stays_on_the_node_reached_and_is_never_claimed(nodes: TwoNodes):
    peer = await nodes.peer(1, "js", "jobseeker", "precall:js", "blue")
    await peer.join()
    await peer.publish()
    await peer.wait_frames("js", "video", 3)
    # Several heartbeats, each renewing what the node holds: the echo room is not among them, so
    # it is neither claimed in Redis nor closed as "moved" (as an unclaimed interview would be).
    renewed = 0
    while renewed < 5 * LEASE_S / HEARTBEAT_S:
        await asyncio.sleep(HEARTBEAT_S)
        renewed += 1
    assert "precall:js" in nodes.media(1).rooms and "precall:js" not in nodes.media(0).rooms
    link = nodes.node(0).backends.store.link
    assert await link.client.get("rt:{media:precall:js}:owner") is None
    frames = peer.frames_from("js", "video")
    await peer.wait_frames("js", "video", frames + 10)  # still flowing
    assert not [e for e in peer.client._events if e.get("type") == "media_closed"]
