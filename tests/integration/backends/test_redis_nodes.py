"""Several real nodes (``python -m rtserver serve`` processes) sharing a real redis-server.

What running several nodes must survive: users on different nodes chatting in one order, a
node killed mid-conversation, Redis restarted (with and without its append-only file), a dead
node's users going offline, and Redis Cluster running the same code.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis_server import RedisCluster, RedisServer, die_with_parent, free_port, redis_available

from rtserver.auth import mint_token
from rtserver.client import Client, ServerError

pytestmark = pytest.mark.skipif(not redis_available(), reason="redis-server is not installed (scripts/test does it)")

API_KEY = "redis-nodes-test-key"
PRESENCE_TTL_S = 3.0
HEARTBEAT_S = 0.5
WAIT_S = 20.0


class NodeProcess:
    """One rtserver node on a free port, stopped by the test (SIGKILL if need be)."""

    def __init__(self, store_url: str, secret: str, **settings: Any):
        self.port = free_port()
        self.env = {**os.environ, "RTSERVER_HOST": "127.0.0.1", "RTSERVER_PORT": str(self.port),
                    "RTSERVER_STORE": store_url, "RTSERVER_SECRET": secret, "RTSERVER_API_KEY": API_KEY,
                    "RTSERVER_LOG_LEVEL": "warning", "RTSERVER_PRESENCE_TTL_S": str(PRESENCE_TTL_S),
                    "RTSERVER_NODE_HEARTBEAT_S": str(HEARTBEAT_S), "RTSERVER_REDIS_TIMEOUT_S": "1.0",
                    "RTSERVER_MAX_MESSAGES_PER_S": "1000", "RTSERVER_BURST_MESSAGES": "1000"}
        self.env.update({f"RTSERVER_{k.upper()}": str(v) for k, v in settings.items()})
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def spawn(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "rtserver", "serve"], env=self.env,
                                     preexec_fn=die_with_parent)

    async def start(self) -> None:
        self.spawn()
        await self.until_ready(200)

    async def readyz(self) -> int:
        async with aiohttp.ClientSession() as session, session.get(self.url + "/readyz") as resp:
            return resp.status

    async def until_ready(self, status: int) -> None:
        """/readyz has no event to wait on: poll it, within a bound."""
        async with asyncio.timeout(WAIT_S):
            while True:
                assert self.proc is not None and self.proc.poll() is None, "node exited"
                try:
                    if await self.readyz() == status:
                        return
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    async def metrics(self) -> dict[str, float]:
        async with aiohttp.ClientSession() as session, session.get(self.url + "/metrics") as resp:
            text = await resp.text()
        return {name: float(value) for line in text.splitlines() if line and not line.startswith("#")
                for name, _, value in [line.rpartition(" ")]}

    async def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as session, session.request(
                method, self.url + path, json=body, headers={"X-Api-Key": API_KEY}) as resp:
            return resp.status, await resp.json()

    async def room(self, room_id: str, users: list[str], kind: str = "group") -> dict[str, Any]:
        status, data = await self.api("POST", "/api/rooms", {"id": room_id, "kind": kind,
                                                             "members": [{"user": u} for u in users]})
        assert status == 201, data
        return data


class Cluster:
    """Redis plus nodes, and clients that are closed at the end of the test."""

    def __init__(self, store_url: str):
        self.store_url = store_url
        self.secret = secrets.token_urlsafe(32)
        self.nodes: list[NodeProcess] = []
        self.clients: list[Client] = []

    async def node(self) -> NodeProcess:
        node = NodeProcess(self.store_url, self.secret)
        self.nodes.append(node)
        await node.start()
        return node

    async def client(self, user: str, *nodes: NodeProcess, **kw: Any) -> Client:
        token = mint_token(secret=self.secret, user_id=user, role="advisor" if user.startswith("adv") else "jobseeker",
                           ttl_s=600)
        client = Client([n.ws for n in nodes], token=token, backoff_initial_s=0.05, backoff_max_s=0.5, **kw)
        await client.connect()
        self.clients.append(client)
        return client

    async def close(self) -> None:
        for client in self.clients:
            await client.close()
        for node in self.nodes:
            node.kill()


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.kill()


@pytest.fixture
async def aof_redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    server = RedisServer(tmp_path / "redis-aof", appendonly=True)
    server.start()
    yield server
    server.kill()


@pytest.fixture
async def service(redis: RedisServer) -> AsyncIterator[Cluster]:
    cluster = Cluster(redis.url)
    yield cluster
    await cluster.close()


async def _messages(client: Client, room: str, count: int) -> list[dict[str, Any]]:
    got = []
    while len(got) < count:
        got.append(await client.next_event("message", timeout=WAIT_S, where=lambda e: e["room"] == room))
    return got


async def _send_through(client: Client, room: str, text: str) -> dict[str, Any]:
    """Send until acknowledged, with one idempotency key: a retry is never stored twice."""
    key = secrets.token_hex(8)
    async with asyncio.timeout(WAIT_S):
        while True:
            try:
                return await client.send(room, text, key=key)
            except ServerError as exc:
                if exc.code != "unavailable":
                    raise
                await asyncio.sleep((exc.retry_after_ms or 100) / 1000 / 4)


async def test_users_on_two_nodes_see_one_room_in_one_order(service):
    a, b = await service.node(), await service.node()
    users = ["u1", "u2", "u3", "u4"]
    await a.room("grp", users)
    clients = [await service.client(user, node) for user, node in zip(users, (a, a, b, b), strict=True)]
    for client in clients:
        await client.join("grp")

    async def talk(client: Client, who: str) -> list[int]:
        return [(await client.send("grp", f"{who} {i}"))["offset"] for i in range(25)]

    acked = await asyncio.gather(*(talk(c, u) for c, u in zip(clients, users, strict=True)))
    assert sorted(itertools.chain(*acked)) == list(range(1, 101))
    seen = [[(m["offset"], m["from"], m["text"]) for m in await _messages(c, "grp", 100)] for c in clients]
    assert [offset for offset, _, _ in seen[0]] == list(range(1, 101))
    assert all(view == seen[0] for view in seen[1:]), "every member, on either node, sees the same order"
    node_of = [c.hello["node"] for c in clients]
    assert node_of[0] == node_of[1] != node_of[2] == node_of[3]


async def test_a_node_killed_mid_conversation_loses_and_duplicates_nothing(service):
    a, b = await service.node(), await service.node()
    await a.room("conv", ["adv", "js", "obs-a", "obs-b"])
    adv = await service.client("adv", a, b)  # on the node about to die; falls back to b
    js = await service.client("js", b, a)
    watchers = [await service.client("obs-a", a, b), await service.client("obs-b", b, a)]
    for client in (adv, js, *watchers):
        await client.join("conv")
    per_sender = 60
    adv_acked = asyncio.Event()

    async def talk(client: Client, who: str) -> None:
        for i in range(per_sender):
            await client.send("conv", f"{who} {i}")  # the SDK re-sends with the same key after reconnecting
            if who == "adv" and i == 20:
                adv_acked.set()

    talkers = [asyncio.create_task(talk(adv, "adv")), asyncio.create_task(talk(js, "js"))]
    await asyncio.wait_for(adv_acked.wait(), WAIT_S)
    a.kill()  # SIGKILL: no goodbye to anyone
    await asyncio.wait_for(asyncio.gather(*talkers), WAIT_S)
    expected = {f"{who} {i}" for who in ("adv", "js") for i in range(per_sender)}
    for client in (adv, js, *watchers):
        got = await _messages(client, "conv", 2 * per_sender)
        texts = [m["text"] for m in got]
        assert len(texts) == len(set(texts)) == 2 * per_sender and set(texts) == expected
        assert [m["offset"] for m in got] == list(range(1, 2 * per_sender + 1))
    assert adv.reconnects >= 1 and watchers[0].reconnects >= 1
    status, history = await b.api("GET", "/api/rooms/conv/messages?after=0&limit=1000")
    assert status == 200 and len(history["messages"]) == 2 * per_sender


async def test_redis_restarted_with_its_append_only_file_loses_no_acknowledged_message(aof_redis):
    service = Cluster(aof_redis.url)
    try:
        a, b = await service.node(), await service.node()
        await a.room("conv", ["adv", "js"])
        adv = await service.client("adv", a)
        js = await service.client("js", b)
        await adv.join("conv")
        await js.join("conv")
        acked = [await _send_through(adv, "conv", f"before {i}") for i in range(10)]
        aof_redis.stop()  # clean shutdown: the append-only file is flushed
        with pytest.raises(ServerError) as refused:
            await adv.send("conv", "while down")
        assert refused.value.code == "unavailable" and refused.value.retry_after_ms
        assert await a.readyz() == 503 and await b.readyz() == 503
        sending = asyncio.create_task(_send_through(adv, "conv", "during restart"))
        aof_redis.start()
        acked.append(await sending)
        acked += [await _send_through(adv, "conv", f"after {i}") for i in range(10)]
        assert [ack["offset"] for ack in acked] == list(range(1, 22))
        await a.until_ready(200)
        await b.until_ready(200)
        # The node of the receiver subscribed again by itself: the messages after the restart reach it.
        got = await _messages(js, "conv", 21)
        assert [m["offset"] for m in got] == list(range(1, 22))
        assert [m["text"] for m in got][-1] == "after 9"
        assert js.reconnects == 0 and adv.reconnects == 0, "the WebSockets stayed up through the outage"
        metrics = await b.metrics()
        assert metrics.get('rtserver_redis_reconnects_total{client="pool"}', 0) >= 1
        assert metrics.get('rtserver_redis_reconnects_total{client="subscriber"}', 0) >= 1
        assert metrics.get('rtserver_redis_latency_seconds_count{op="check_stream"}', 0) >= 2
        status, history = await b.api("GET", "/api/rooms/conv/messages?after=0&limit=100")
        assert status == 200 and [m["offset"] for m in history["messages"]] == list(range(1, 22))
    finally:
        await service.close()


async def test_a_node_started_before_redis_is_unready_until_redis_comes(tmp_path):
    server = RedisServer(tmp_path / "late-redis")
    service = Cluster(server.url)
    try:
        node = NodeProcess(server.url, service.secret)
        service.nodes.append(node)
        node.spawn()
        await node.until_ready(503)  # up, and saying it cannot serve yet
        server.start()
        await node.until_ready(200)
        await node.room("conv", ["adv", "js"])
        adv = await service.client("adv", node)
        await adv.join("conv")
        assert (await adv.send("conv", "hello"))["offset"] == 1
    finally:
        await service.close()
        server.kill()


async def test_redis_restarted_without_persistence_tells_clients_the_history_is_gone(redis, service):
    a, b = await service.node(), await service.node()
    created = await a.room("conv", ["adv", "js"])
    adv = await service.client("adv", b, a)
    js = await service.client("js", a, b)
    for client in (adv, js):
        await client.join("conv")
    for i in range(5):
        await adv.send("conv", f"old {i}")
    await _messages(js, "conv", 5)
    redis.kill()
    redis.start()  # empty: the room, its history and its epoch are gone
    # Each node notices when it subscribes again and makes the room's members rejoin: they are
    # refused (the room does not exist any more) instead of resuming into a history that is not theirs.
    for client in (adv, js):
        await client.next_event("rejoin_failed", timeout=WAIT_S)
    recreated = await a.room("conv", ["adv", "js"])
    assert recreated["epoch"] != created["epoch"]
    for client in (adv, js):
        joined = await client.join("conv")
        assert joined["reset"] is True and joined["epoch"] == recreated["epoch"]
    await adv.send("conv", "new start")
    message = await js.next_event("message", timeout=WAIT_S)
    assert (message["offset"], message["text"]) == (1, "new start")


async def test_users_of_a_killed_node_go_offline_everywhere_within_the_bound(service):
    a, b = await service.node(), await service.node()
    await a.room("conv", ["adv", "js"], kind="conversation")
    js = await service.client("js", a, reconnect=False)
    adv = await service.client("adv", b)
    joined = await adv.join("conv")
    assert {m["user"]: m["status"] for m in joined["members"]}["js"] == "online"
    del js  # it dies with its node
    a.kill()
    killed = time.monotonic()
    event = await adv.next_event("presence", timeout=WAIT_S, where=lambda e: e["user"] == "js")
    assert event["status"] == "offline"
    # ttl + one beat for the last beat's age + one beat for the sweep, plus start-up slack.
    assert time.monotonic() - killed < PRESENCE_TTL_S + 2 * HEARTBEAT_S + 2.0
    await adv.leave("conv")
    rejoined = await adv.join("conv")
    assert {m["user"]: m["status"] for m in rejoined["members"]}["js"] == "offline"


async def test_nodes_on_a_three_master_redis_cluster(tmp_path):
    redis_cluster = RedisCluster(tmp_path / "cluster")
    redis_cluster.start()
    service = Cluster(redis_cluster.url)
    try:
        a, b = await service.node(), await service.node()
        rooms = [f"room-{i}" for i in range(6)]  # spread over the three masters' slots
        for room in rooms:
            await a.room(room, ["u1", "u2"])
        u1, u2 = await service.client("u1", a), await service.client("u2", b)
        for room in rooms:
            await u1.join(room)
            await u2.join(room)
        for room in rooms:
            for i in range(3):
                await u1.send(room, f"{room} {i}")
                await u2.send(room, f"{room} reply {i}")
        for client in (u1, u2):
            # Rooms on different masters travel on different connections: their messages may interleave.
            got: dict[str, list[int]] = {room: [] for room in rooms}
            for _ in range(6 * len(rooms)):
                message = await client.next_event("message", timeout=WAIT_S)
                got[message["room"]].append(message["offset"])
            assert got == {room: list(range(1, 7)) for room in rooms}
        status, history = await b.api("GET", f"/api/rooms/{rooms[-1]}/messages?after=0&limit=100")
        assert status == 200 and len(history["messages"]) == 6
        assert {r["room"]: r["unread"] for r in await u2.rooms()} == dict.fromkeys(rooms, 0)
    finally:
        await service.close()
        redis_cluster.stop()
