"""The Redis broker and presence, and what the Redis store does that SQLite cannot (epochs after
data loss, outages), each against a real redis-server started by the test.

The store contract itself (offsets, idempotency, receipts...) runs on Redis in test_store_contract.py.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from redis_server import RedisCluster, RedisServer, redis_available

from rtserver.backends import MemberRole, PresenceInfo, RoomKind
from rtserver.backends import redis_keys as keys
from rtserver.backends.redis_broker import RedisBroker
from rtserver.backends.redis_link import RedisLink
from rtserver.backends.redis_presence import RedisPresence
from rtserver.backends.redis_store import RedisStore
from rtserver.config import Settings
from rtserver.errors import ErrorCode, RtError, Unavailable
from rtserver.metrics import Metrics
from rtserver.protocol import Availability, PresenceStatus
from rtserver.stores import create_backends

pytestmark = pytest.mark.skipif(not redis_available(), reason="redis-server is not installed (scripts/test does it)")

M = MemberRole.MEMBER
WAIT_S = 10.0


class Recorder:
    """A BrokerHandler that keeps what it is given."""

    def __init__(self) -> None:
        self.events: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self.resets: asyncio.Queue[str] = asyncio.Queue()

    def on_room_event(self, room_id: str, event: dict[str, Any]) -> None:
        self.events.put_nowait((room_id, event))

    def on_room_reset(self, room_id: str) -> None:
        self.resets.put_nowait(room_id)

    async def next(self, **match: Any) -> dict[str, Any]:
        async with asyncio.timeout(WAIT_S):
            while True:
                _, event = await self.events.get()
                if all(event.get(k) == v for k, v in match.items()):
                    return event


class Family:
    """What one node builds: a link shared by a store, a broker and presence."""

    def __init__(self, url: str, *, ttl_s: float = 3.0, heartbeat_s: float = 0.5, timeout_s: float = 2.0):
        self.registry = CollectorRegistry()
        self.link = RedisLink(url, timeout_s=timeout_s, registry=self.registry)
        self.store = RedisStore(self.link, retention_messages=0, idempotency_ttl_s=3600)
        self.broker = RedisBroker(self.link, ping_interval_s=heartbeat_s)
        self.presence = RedisPresence(self.link, store=self.store, broker=self.broker, ttl_s=ttl_s,
                                      heartbeat_s=heartbeat_s)
        self.handler = Recorder()

    async def start(self) -> Family:
        await self.store.open()
        await self.broker.start(self.handler)
        return self

    async def close(self) -> None:
        await self.broker.close()
        await self.presence.close()
        await self.store.close()

    def metric(self, name: str, **labels: str) -> float:
        return self.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
async def redis(tmp_path: Path) -> AsyncIterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.kill()


@pytest.fixture
async def families(redis: RedisServer) -> AsyncIterator[list[Family]]:
    made: list[Family] = []
    yield made
    for family in made:
        await family.close()


async def _family(families: list[Family], url: str, **kw: Any) -> Family:
    family = await Family(url, **kw).start()
    families.append(family)
    return family


async def _send(store: RedisStore, room: str, text: str, sender: str = "a") -> int:
    return (await store.append(room, sender=sender, name=sender, text=text, key=None, ts_ms=1000)).message.offset


async def _until(predicate: Any, timeout_s: float = WAIT_S) -> None:
    """For state that has no event to wait on (a sweep, a heartbeat): poll it, within a bound."""
    async with asyncio.timeout(timeout_s):
        while True:
            result = predicate()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
            await asyncio.sleep(0.05)


async def _eq(value: Any, expected: Any) -> bool:
    return await value == expected


async def _retry_while_unavailable(make: Any) -> Any:
    async with asyncio.timeout(WAIT_S):
        while True:
            try:
                return await make()
            except Unavailable:
                await asyncio.sleep(0.05)


# -- choosing the family ------------------------------------------------------------------------------
@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "redis+cluster://127.0.0.1:7000,127.0.0.1:7001"])
async def test_create_backends_picks_the_redis_family_from_the_url(url):
    backends = create_backends(Settings(store=url), metrics=Metrics())
    assert isinstance(backends.store, RedisStore) and isinstance(backends.broker, RedisBroker)
    assert isinstance(backends.presence, RedisPresence)
    await backends.store.close()


def test_settings_that_cannot_work_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="node_heartbeat_s"):
        create_backends(Settings(store="redis://127.0.0.1:6379/0", presence_ttl_s=5, node_heartbeat_s=2))
    with pytest.raises(ValueError, match="host:port"):
        create_backends(Settings(store="redis+cluster://nohost"))


# -- fan-out ------------------------------------------------------------------------------------------
async def test_every_node_gets_each_message_once_in_offset_order(redis, families):
    a, b = await _family(families, redis.url), await _family(families, redis.url)
    await a.store.create_room("r", RoomKind.GROUP, "", {"a": M, "b": M}, max_members=10)
    await a.broker.subscribe("r")
    await b.broker.subscribe("r")
    sent = await asyncio.gather(*(_send(node.store, "r", f"{i}") for i in range(50) for node in (a, b)))
    assert sorted(sent) == list(range(1, 101))
    for node in (a, b):
        offsets = [(await node.handler.next(type="message"))["offset"] for _ in range(100)]
        assert offsets == list(range(1, 101))
    # Message events come from the append script only: a publish of one is not sent again.
    await a.broker.publish("r", {"type": "message", "room": "r", "offset": 1})
    await a.broker.publish("r", {"type": "typing", "room": "r", "user": "a"})
    assert (await b.handler.next())["type"] == "typing"
    assert b.handler.events.empty()


async def test_one_subscription_per_room_whatever_the_local_members(redis, families):
    node = await _family(families, redis.url)
    await node.store.create_room("r", RoomKind.GROUP, "", {"a": M}, max_members=10)
    channel = keys.room_channel("r")

    async def subscribers() -> int:
        reply = await node.link.client.execute_command("PUBSUB", "SHARDNUMSUB", channel)
        return int(reply[1])

    await node.broker.subscribe("r")
    await node.broker.subscribe("r")  # the hub re-created the room before its unsubscribe ran
    assert await subscribers() == 1
    await node.broker.unsubscribe("r")
    assert await subscribers() == 1
    await node.broker.unsubscribe("r")
    await _until(lambda: _eq(subscribers(), 0))


async def test_subscriber_reconnects_by_itself_and_reports_what_it_missed(redis, families):
    node = await _family(families, redis.url)
    await node.store.create_room("r", RoomKind.GROUP, "", {"a": M}, max_members=10)
    await node.broker.subscribe("r")
    await _send(node.store, "r", "seen")
    assert (await node.handler.next(type="message"))["offset"] == 1
    # Cut the pub/sub connection and keep it cut while two messages are stored.
    shard = next(iter(node.broker._shards.values()))
    connect = shard._connect
    shard._connect = lambda: (_ for _ in ()).throw(ConnectionRefusedError("cut by the test"))
    await node.link.client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    await _until(lambda: not shard._ready.is_set())
    await _send(node.store, "r", "missed 1")
    await _send(node.store, "r", "missed 2")
    shard._connect = connect
    # Once subscribed again the broker hands over the newest; the hub repairs the gap before it.
    newest = await node.handler.next(type="message")
    assert (newest["offset"], newest["text"]) == (3, "missed 2")
    await _send(node.store, "r", "live again")
    assert (await node.handler.next(type="message"))["offset"] == 4
    assert node.metric("rtserver_redis_reconnects_total", client="subscriber") >= 1


async def test_a_room_lost_with_redis_data_is_reset_and_recreated_with_a_new_epoch(redis, families):
    node = await _family(families, redis.url)
    room = await node.store.create_room("r", RoomKind.GROUP, "", {"a": M}, max_members=10)
    await node.broker.subscribe("r")
    await _send(node.store, "r", "before")
    await node.handler.next(type="message")
    redis.kill()  # no persistence: everything is gone
    with pytest.raises(Unavailable):
        await node.store.ping()
    redis.start()
    assert await node.handler.resets.get() == "r"  # the broker noticed on resubscribing
    assert await node.store.get_room("r") is None
    with pytest.raises(RtError) as err:
        await _send(node.store, "r", "into the void")
    assert err.value.code is ErrorCode.ROOM_NOT_FOUND
    again = await node.store.create_room("r", RoomKind.GROUP, "", {"a": M}, max_members=10)
    assert again.epoch != room.epoch
    assert await _send(node.store, "r", "after") == 1


async def test_history_that_went_back_in_time_gets_a_new_epoch(redis, families):
    """What a crash with appendfsync everysec can do: the last acknowledged writes are gone, and
    the same offsets are then given to new messages. The broker notices and changes the epoch."""
    node = await _family(families, redis.url)
    room = await node.store.create_room("r", RoomKind.GROUP, "", {"a": M}, max_members=10)
    await node.broker.subscribe("r")
    for i in range(3):
        await _send(node.store, "r", f"m{i}")
    for _ in range(3):
        await node.handler.next(type="message")
    shard = next(iter(node.broker._shards.values()))
    connect = shard._connect
    shard._connect = lambda: (_ for _ in ()).throw(ConnectionRefusedError("cut by the test"))
    await node.link.client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
    # Offset 3 is lost (the stream as a crash would leave it), then given to another message.
    client, log = node.link.client, keys.room_log("r")
    kept = await client.xrange(log, "-", "2-0")
    await client.delete(log)
    for entry_id, fields in kept:
        await client.xadd(log, fields, id=entry_id)
    await client.hset(keys.room_meta("r"), "head", 2)
    assert await _send(node.store, "r", "a different third message") == 3
    shard._connect = connect
    assert await node.handler.resets.get() == "r"
    assert (await node.store.get_room("r")).epoch != room.epoch


# -- outages -------------------------------------------------------------------------------------------
async def test_calls_fail_fast_as_unavailable_while_redis_is_down_then_recover(tmp_path, families):
    server = RedisServer(tmp_path / "aof", appendonly=True)
    server.start()
    try:
        node = await _family(families, server.url, timeout_s=1.0)
        await node.store.create_room("r", RoomKind.GROUP, "", {"a": M}, max_members=10)
        assert await _send(node.store, "r", "one") == 1
        server.stop()
        started = time.monotonic()
        for call in (node.store.ping(), _send(node.store, "r", "two"), node.store.head("r"),
                     node.broker.publish("r", {"type": "typing"}), node.presence.get(["a"])):
            with pytest.raises(Unavailable) as err:
                await call
            assert err.value.code is ErrorCode.UNAVAILABLE and err.value.retry_after_ms
        assert time.monotonic() - started < 5 * 1.0
        assert node.metric("rtserver_redis_up") == 0
        server.start()
        assert await _retry_while_unavailable(lambda: _send(node.store, "r", "two")) == 2
        assert [m.text for m in await node.store.read_after("r", 0, 10)] == ["one", "two"]
        assert node.metric("rtserver_redis_reconnects_total", client="pool") >= 1
        assert node.metric("rtserver_redis_up") == 1
        assert node.metric("rtserver_redis_latency_seconds_count", op="append") >= 2
    finally:
        server.kill()


async def test_retention_keeps_the_newest_messages(redis):
    store = RedisStore(RedisLink(redis.url, timeout_s=2.0), retention_messages=100, idempotency_ttl_s=60)
    try:
        await store.create_room("r", RoomKind.GROUP, "", {"a": M}, max_members=10)
        for i in range(1000):
            await _send(store, "r", str(i))
        kept = await store.read_after("r", 0, 2000)
        assert 100 <= len(kept) < 1000 and kept[-1].offset == 1000
        assert [m.offset for m in kept] == list(range(1001 - len(kept), 1001))
        assert await store.head("r") == 1000
    finally:
        await store.close()


# -- presence ------------------------------------------------------------------------------------------
async def test_presence_aggregates_connections_across_nodes(redis, families):
    a, b = await _family(families, redis.url), await _family(families, redis.url)
    await a.presence.set("u", "a:1", PresenceStatus.AWAY)
    assert (await b.presence.get(["u"]))["u"].status is PresenceStatus.AWAY
    await b.presence.set("u", "b:1", PresenceStatus.ONLINE)
    assert (await a.presence.get(["u"]))["u"].status is PresenceStatus.ONLINE
    await a.presence.set_availability("u", Availability.BUSY)
    assert (await b.presence.get(["u"]))["u"] == PresenceInfo(PresenceStatus.ONLINE, Availability.BUSY)
    await b.presence.remove("u", "b:1")
    await a.presence.remove("u", "a:1")
    assert await b.presence.get(["u", "nobody"]) == {"u": PresenceInfo(PresenceStatus.OFFLINE, Availability.BUSY),
                                                     "nobody": PresenceInfo(PresenceStatus.OFFLINE)}


async def test_users_of_a_node_that_stops_beating_go_offline_and_it_is_announced(redis, families):
    ttl_s, beat_s = 1.5, 0.25
    a = await _family(families, redis.url, ttl_s=ttl_s, heartbeat_s=beat_s)
    b = await _family(families, redis.url, ttl_s=ttl_s, heartbeat_s=beat_s)
    await b.store.create_room("conv", RoomKind.CONVERSATION, "", {"js": M, "adv": M}, max_members=2)
    await b.broker.subscribe("conv")
    await a.presence.set("js", "a:1", PresenceStatus.ONLINE)
    assert (await b.presence.get(["js"]))["js"].status is PresenceStatus.ONLINE
    a.presence._task.cancel()  # node a dies: no more beats, nothing cleaned up
    died = time.monotonic()
    event = await b.handler.next(type="presence", user="js")
    assert event["status"] == "offline"
    assert time.monotonic() - died < ttl_s + 3 * beat_s + 1.0
    assert (await b.presence.get(["js"]))["js"].status is PresenceStatus.OFFLINE
    assert await b.link.client.hgetall(keys.user_conns("js")) == {}  # swept


async def test_a_node_swept_while_cut_off_restores_its_entries(redis, families):
    ttl_s, beat_s = 1.5, 0.25
    a = await _family(families, redis.url, ttl_s=ttl_s, heartbeat_s=beat_s)
    b = await _family(families, redis.url, ttl_s=ttl_s, heartbeat_s=beat_s)
    await a.presence.set("js", "a:1", PresenceStatus.ONLINE)
    await b.presence.get([])
    a.presence._task.cancel()
    await _until(lambda: _eq(b.link.client.zscore(keys.NODES, a.presence.node_id), None))
    assert (await b.presence.get(["js"]))["js"].status is PresenceStatus.OFFLINE
    await a.presence._beat()  # a is back: its beat finds it was swept
    assert (await b.presence.get(["js"]))["js"].status is PresenceStatus.ONLINE


# -- Redis Cluster -------------------------------------------------------------------------------------
async def test_store_and_fanout_on_a_three_master_cluster(tmp_path):
    cluster = RedisCluster(tmp_path / "cluster")
    cluster.start()
    nodes: list[Family] = []
    try:
        a, b = await Family(cluster.url).start(), await Family(cluster.url).start()
        nodes += [a, b]
        rooms = [f"room-{i}" for i in range(8)]
        for room in rooms:
            await a.store.create_room(room, RoomKind.GROUP, "", {"a": M, "b": M}, max_members=10)
            await b.broker.subscribe(room)
        masters = {(await a.link.shard_address(keys.room_channel(room))) for room in rooms}
        assert len(masters) > 1, "the rooms should spread over several masters"
        for i in range(5):
            for room in rooms:
                await _send(a.store, room, f"{room} {i}")
        received: dict[str, list[int]] = {room: [] for room in rooms}
        for _ in range(5 * len(rooms)):
            room, event = await asyncio.wait_for(b.handler.events.get(), WAIT_S)
            received[room].append(event["offset"])
        assert all(offsets == [1, 2, 3, 4, 5] for offsets in received.values())
        summaries = await b.store.rooms_of("b", limit=100)
        assert [s.room for s in summaries] == sorted(rooms) and all(s.unread == 5 for s in summaries)
        await a.presence.set("a", "a:1", PresenceStatus.ONLINE)
        assert (await b.presence.get(["a"]))["a"].status is PresenceStatus.ONLINE
        # Resharding: move the first room's slot to another master; its subscription follows.
        moved = rooms[0]
        source = await a.link.shard_address(keys.room_channel(moved))
        target = next(s for s in cluster.servers if ("127.0.0.1", s.port) != source)
        await _move_slot(cluster, keys.room_channel(moved), source, target)
        await _until(lambda: b.broker._room_shard[moved].name == f"127.0.0.1:{target.port}")
        await _until(lambda: bytes(keys.room_channel(moved), "ascii") in b.broker._room_shard[moved]._confirmed)
        assert await _send(a.store, moved, "after the move") == 6
        room, event = await asyncio.wait_for(b.handler.events.get(), WAIT_S)
        assert (room, event["offset"], event["text"]) == (moved, 6, "after the move")
    finally:
        for family in nodes:
            await family.close()
        cluster.stop()


async def _move_slot(cluster: RedisCluster, key: str, source: tuple[str, int], target: RedisServer) -> None:
    """What ``redis-cli --cluster reshard`` does, for the one slot holding ``key``."""
    src = next(s for s in cluster.servers if s.port == source[1])
    slot = src.cli("cluster", "keyslot", key).strip()
    src_id, dst_id = src.cli("cluster", "myid").strip(), target.cli("cluster", "myid").strip()
    target.cli("cluster", "setslot", slot, "importing", src_id)
    src.cli("cluster", "setslot", slot, "migrating", dst_id)
    names = src.cli("cluster", "getkeysinslot", slot, "1000").split()
    if names:
        src.cli("migrate", "127.0.0.1", str(target.port), "", "0", "5000", "keys", *names)
    for server in cluster.servers:
        server.cli("cluster", "setslot", slot, "node", dst_id)


async def test_fanout_follows_a_failover_to_a_replica(tmp_path):
    cluster = RedisCluster(tmp_path / "cluster", replicas=1)
    cluster.start()
    nodes: list[Family] = []
    try:
        a, b = await Family(cluster.url).start(), await Family(cluster.url).start()
        nodes += [a, b]
        await a.store.create_room("r", RoomKind.GROUP, "", {"a": M}, max_members=10)
        await b.broker.subscribe("r")
        assert await _send(a.store, "r", "before") == 1
        assert (await b.handler.next(type="message"))["offset"] == 1
        port = (await a.link.shard_address(keys.room_channel("r")))[1]
        master = next(s for s in cluster.servers if s.port == port)
        cluster.wait_replicated(master)  # the replica has everything: this failover loses nothing
        master.kill()
        assert await _retry_while_unavailable(lambda: _send(a.store, "r", "after")) == 2
        event = await b.handler.next(type="message")  # the subscription moved to the new master
        assert (event["offset"], event["text"]) == (2, "after")
        assert await _send(a.store, "r", "live") == 3
        assert (await b.handler.next(type="message"))["offset"] == 3
        assert b.handler.resets.empty()
    finally:
        for family in nodes:
            await family.close()
        cluster.stop()


async def test_an_erasure_rewrites_streams_on_every_master_and_is_not_taken_for_lost_history(tmp_path):
    """A person's erasure (backends/erasure.py) on a three-master cluster: each room's stream is
    rewritten on its own slot; a node that saw the last (now rewritten) entry and checks the stream
    after a reconnection (check_stream.lua) finds no rewrite of history, so no member is reset;
    the nodes holding the person's connections are named by presence."""
    cluster = RedisCluster(tmp_path / "cluster")
    cluster.start()
    nodes: list[Family] = []
    try:
        a, b = await Family(cluster.url).start(), await Family(cluster.url).start()
        nodes += [a, b]
        rooms = [f"followup-js-{i}" for i in range(6)]
        for room in rooms:
            await a.store.create_room(room, RoomKind.CONVERSATION, "", {"js": M, "adv": M}, max_members=10)
            await b.broker.subscribe(room)
        assert len({await a.link.shard_address(keys.room_log(room)) for room in rooms}) > 1
        for room in rooms:
            await _send(a.store, room, "bonjour", sender="adv")
            await _send(a.store, room, "mes dettes", sender="js")  # the newest entry, seen by b
        for _ in range(2 * len(rooms)):
            await asyncio.wait_for(b.handler.events.get(), WAIT_S)

        for room in rooms:
            assert await a.store.erase_sender(room, "js") == 1
        for room in rooms:
            await b.broker._check(room, initial=False)  # what a resubscription after a reconnection runs
            messages = await b.store.read_after(room, 0, 10)
            assert [(m.offset, m.sender) for m in messages] == [(1, "adv"), (2, "*erased")]
        assert b.handler.resets.empty()
        assert await _send(a.store, rooms[0], "la suite", sender="adv") == 3

        await a.presence.set("js", "node-a:7", PresenceStatus.ONLINE)
        await b.presence.set("js", "node-b:1", PresenceStatus.ONLINE)
        assert await b.presence.nodes_of("js") == {"node-a", "node-b"}
    finally:
        for family in nodes:
            await family.close()
        cluster.stop()
