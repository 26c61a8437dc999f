"""One contract for every Store implementation: each backend family must pass all of it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from redis_server import RedisServer, redis_available

from rtserver.backends import MemberRole, RedisStore, RoomKind, SqliteStore, Store
from rtserver.backends.redis_link import RedisLink
from rtserver.errors import ErrorCode, RtError

M, H = MemberRole.MEMBER, MemberRole.HOST


@contextlib.contextmanager
def _sqlite(tmp_path) -> Iterator[Callable[[], Store]]:
    yield lambda: SqliteStore(str(tmp_path / "contract.db"))


@contextlib.contextmanager
def _redis(tmp_path) -> Iterator[Callable[[], Store]]:
    if not redis_available():
        pytest.skip("redis-server is not installed (scripts/test installs it)")
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield lambda: RedisStore(RedisLink(server.url, timeout_s=5.0), retention_messages=0, idempotency_ttl_s=3600)
    finally:
        server.kill()


BACKENDS = {"sqlite": _sqlite, "redis": _redis}


@pytest.fixture(params=sorted(BACKENDS))
async def make_store(request, tmp_path) -> AsyncIterator[Callable[[], Store]]:
    with BACKENDS[request.param](tmp_path) as factory:
        yield factory


@pytest.fixture
async def store(make_store) -> AsyncIterator[Store]:
    s = make_store()
    await s.open()
    yield s
    await s.close()


async def _append(store: Store, room: str, text: str, sender: str = "a", key: str | None = None):
    return await store.append(room, sender=sender, name=sender.upper(), text=text, key=key, ts_ms=1000)


async def test_offsets_are_per_room_and_gap_free_under_concurrency(store):
    await store.create_room("r1", RoomKind.GROUP, "", {"a": M}, max_members=10)
    await store.create_room("r2", RoomKind.GROUP, "", {"a": M}, max_members=10)
    results = await asyncio.gather(*(_append(store, f"r{1 + i % 2}", str(i)) for i in range(200)))
    for room in ("r1", "r2"):
        offsets = sorted(r.message.offset for r in results if r.message.room == room)
        assert offsets == list(range(1, 101))
        assert await store.head(room) == 100


async def test_idempotency_key_stores_once_per_sender(store):
    await store.create_room("r", RoomKind.GROUP, "", {"a": M, "b": M}, max_members=10)
    first = await _append(store, "r", "hello", key="k1")
    again = await _append(store, "r", "hello (retry)", key="k1")
    other_sender = await _append(store, "r", "hello", sender="b", key="k1")
    assert (first.duplicate, again.duplicate, other_sender.duplicate) == (False, True, False)
    assert again.message == first.message
    assert other_sender.message.offset == 2


async def test_reads_after_and_before(store):
    await store.create_room("r", RoomKind.GROUP, "", {"a": M}, max_members=10)
    for i in range(1, 11):
        await _append(store, "r", f"m{i}")
    assert [m.offset for m in await store.read_after("r", 7, 100)] == [8, 9, 10]
    assert [m.offset for m in await store.read_after("r", 0, 3)] == [1, 2, 3]
    assert [m.offset for m in await store.read_before("r", None, 3)] == [8, 9, 10]
    assert [m.offset for m in await store.read_before("r", 3, 10)] == [1, 2]
    message = (await store.read_after("r", 0, 1))[0]
    assert (message.text, message.sender, message.name, message.ts_ms) == ("m1", "a", "A", 1000)


async def test_read_receipts_are_monotonic_and_capped(store):
    await store.create_room("r", RoomKind.GROUP, "", {"a": M, "b": M}, max_members=10)
    for i in range(5):
        await _append(store, "r", str(i))
    assert await store.set_read("r", "b", 3) == 3
    assert await store.set_read("r", "b", 2) == 3
    assert await store.set_read("r", "b", 50) == 5
    assert await store.read_offsets("r") == {"a": 5, "b": 5}  # the sender read its own messages


async def test_rooms_of_reports_unread(store):
    await store.create_room("r1", RoomKind.CONVERSATION, "Suivi", {"a": M, "b": M}, max_members=10)
    await store.create_room("r2", RoomKind.BROADCAST, "Info", {"a": H, "b": M}, max_members=10)
    for i in range(3):
        await _append(store, "r1", str(i))
    await store.set_read("r1", "b", 1)
    summaries = {s.room: s for s in await store.rooms_of("b", limit=10)}
    assert (summaries["r1"].unread, summaries["r1"].kind, summaries["r1"].title) == (2, RoomKind.CONVERSATION, "Suivi")
    assert summaries["r2"].unread == 0 and summaries["r2"].kind is RoomKind.BROADCAST
    # When the latest message came (room lists show it without reading history); none yet in r2.
    assert summaries["r1"].last_ts == 1000 and summaries["r2"].last_ts is None
    await store.append("r1", sender="a", name="A", text="later", key=None, ts_ms=5000)
    assert {s.room: s for s in await store.rooms_of("b", limit=10)}["r1"].last_ts == 5000


async def test_membership(store):
    room = await store.create_room("r", RoomKind.BROADCAST, "t", {"h": H, "m": M}, max_members=3)
    assert room.epoch and room.kind is RoomKind.BROADCAST
    assert await store.member_role("r", "h") is H
    assert await store.member_role("r", "stranger") is None
    with pytest.raises(RtError) as err:
        await store.add_members("r", {"x": M, "y": M}, max_members=3)
    assert err.value.code is ErrorCode.ROOM_FULL
    assert await store.members("r") == {"h": H, "m": M}
    assert await store.remove_member("r", "m") is True
    assert await store.remove_member("r", "m") is False
    with pytest.raises(RtError) as missing:
        await store.add_members("nope", {"x": M}, max_members=3)
    assert missing.value.code is ErrorCode.ROOM_NOT_FOUND


async def test_create_room_is_idempotent_but_kind_is_fixed(store):
    first = await store.create_room("r", RoomKind.GROUP, "", {"a": M}, max_members=10)
    again = await store.create_room("r", RoomKind.GROUP, "", {"b": M}, max_members=10)
    assert again.epoch == first.epoch
    assert set(await store.members("r")) == {"a", "b"}
    with pytest.raises(RtError) as err:
        await store.create_room("r", RoomKind.CONVERSATION, "", {}, max_members=10)
    assert err.value.code is ErrorCode.CONFLICT


async def test_a_refused_write_does_not_spoil_its_batch(store):
    await store.create_room("r", RoomKind.GROUP, "", {"a": M}, max_members=10)
    results = await asyncio.gather(_append(store, "r", "ok1"), _append(store, "missing", "x"),
                                   _append(store, "r", "ok2"), return_exceptions=True)
    # Concurrent appends may be applied in either order (Redis runs each as its own script);
    # what matters is that both landed, on consecutive offsets, and the refusal touched neither.
    assert sorted([results[0].message.offset, results[2].message.offset]) == [1, 2]
    stored = {m.offset: m.text for m in await store.read_after("r", 0, 10)}
    assert stored == {results[0].message.offset: "ok1", results[2].message.offset: "ok2"}
    assert isinstance(results[1], RtError) and results[1].code is ErrorCode.ROOM_NOT_FOUND


async def test_everything_survives_reopening(make_store):
    first = make_store()
    await first.open()
    room = await first.create_room("r", RoomKind.GROUP, "", {"a": M}, max_members=10)
    for i in range(20):
        await _append(first, "r", str(i), key=f"k{i}")
    await first.set_read("r", "a", 7)
    await first.close()
    second = make_store()
    await second.open()
    try:
        assert (await second.get_room("r")).epoch == room.epoch
        assert await second.head("r") == 20
        assert (await _append(second, "r", "again", key="k3")).duplicate is True
        assert (await _append(second, "r", "next")).message.offset == 21
    finally:
        await second.close()


async def test_a_notices_data_is_kept_with_it(store):
    """A workflow notice carries data (an appointment's start as an instant); people's messages
    carry none, and their events have no ``data`` field."""
    await store.create_room("r", RoomKind.GROUP, "", {"a": M}, max_members=10)
    data = {"notice": "appointment", "event": "scheduled", "start": 1_796_208_240_000, "duration_min": 30}
    stored = (await store.append("r", sender="system", name="Suivi", text="Entretien", key=None, ts_ms=1000,
                                 data=data)).message
    plain = (await _append(store, "r", "bonjour")).message
    assert stored.data == data and stored.to_event()["data"] == data
    assert plain.data is None and "data" not in plain.to_event()
    assert [m.data for m in await store.read_after("r", 0, 10)] == [data, None]
    assert [m.data for m in await store.read_before("r", None, 10)] == [data, None]


async def test_a_database_from_before_notice_data_opens_and_reads(tmp_path):
    """An SQLite file whose messages table has no data column gets one; its messages read as before."""
    import sqlite3

    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.executescript("""
      CREATE TABLE rooms (id TEXT PRIMARY KEY, kind TEXT NOT NULL, epoch TEXT NOT NULL, title TEXT NOT NULL,
        created_ms INTEGER NOT NULL, head INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
      CREATE TABLE messages (room TEXT NOT NULL, offset INTEGER NOT NULL, ts_ms INTEGER NOT NULL,
        sender TEXT NOT NULL, name TEXT NOT NULL, text TEXT NOT NULL, key TEXT, PRIMARY KEY (room, offset))
        WITHOUT ROWID;
      INSERT INTO rooms VALUES ('r', 'group', 'e1', '', 0, 1);
      INSERT INTO messages VALUES ('r', 1, 1000, 'system', 'Suivi',
        'Entretien du 02/12/2026 à 10:44 UTC annulé.', NULL);
    """)
    old.commit()
    old.close()
    store = SqliteStore(str(path))
    await store.open()
    try:
        [message] = await store.read_after("r", 0, 10)
        assert (message.text, message.data) == ("Entretien du 02/12/2026 à 10:44 UTC annulé.", None)
        appended = await store.append("r", sender="system", name="Suivi", text="x", key=None, ts_ms=2000,
                                      data={"start": 1})
        assert appended.message.offset == 2
        assert [m.data for m in await store.read_after("r", 0, 10)] == [None, {"start": 1}]
    finally:
        await store.close()


async def test_erase_sender_leaves_tombstones_in_place_and_the_other_party_untouched(store):
    """A person's erasure (backends/erasure.py): 2,500 messages cross the rewrite's chunks (250
    entries per Redis script, 500 offsets per SQLite op); the head and offsets do not move, new
    messages go on after the head, and the erased sender's idempotency keys no longer match."""
    from rtserver.backends.erasure import ERASED_SENDER, SCRUBBED, TOMBSTONE_TEXT

    await store.create_room("r", RoomKind.CONVERSATION, "", {"js": M, "adv": M}, max_members=10)
    quote = "« ma santé »"
    for i in range(2500):
        sender = "js" if i % 2 == 0 else "adv"
        await store.append("r", sender=sender, name=sender.upper(), text=f"{sender} says {i}",
                           key=f"k{i}" if i < 10 else None, ts_ms=1000 + i)
    await store.append("r", sender="system", name="Suivi", text=f"Demande de rappel. Motif : {quote}", key=None,
                       ts_ms=5000)
    head = await store.head("r")

    changed = await store.erase_sender("r", "js", scrub=[quote])

    assert changed == 1250 + 1
    assert await store.head("r") == head == 2501
    kept: list = []
    after = 0
    while page := await store.read_after("r", after, 500):
        kept += page
        after = page[-1].offset
    assert [m.offset for m in kept] == list(range(1, 2502))
    erased = [m for m in kept if m.offset % 2 == 1 and m.offset <= 2500]
    assert all((m.sender, m.name, m.text, m.key, m.data) == (ERASED_SENDER, "", TOMBSTONE_TEXT, None, {"erased": True})
               for m in erased)
    assert [m.ts_ms for m in erased[:3]] == [1000, 1002, 1004]  # the time stays
    others = [m for m in kept if m.offset % 2 == 0]
    assert [m.text for m in others[:2]] == ["adv says 1", "adv says 3"] and others[0].key == "k1"
    assert kept[-1].text == f"Demande de rappel. Motif : {SCRUBBED}" and kept[-1].sender == "system"
    assert not any("js says" in m.text or "santé" in m.text for m in kept)

    again = await store.append("r", sender="js", name="JS", text="new", key="k0", ts_ms=9000)
    assert (again.duplicate, again.message.offset) == (False, 2502)  # the erased key no longer answers
    assert (await store.append("r", sender="adv", name="ADV", text="x", key="k1", ts_ms=9001)).duplicate
    assert await store.erase_sender("r", "nobody") == 0


async def test_erase_sender_keeps_what_retention_and_appends_did_meanwhile(store):
    """Messages appended while an erasure runs are kept (and erased if they are the person's)."""
    await store.create_room("r", RoomKind.GROUP, "", {"a": M, "b": M}, max_members=10)
    for i in range(1500):
        await _append(store, "r", f"m{i}", sender="a" if i % 3 == 0 else "b")
    writes = [asyncio.create_task(_append(store, "r", f"late{i}", sender="a" if i % 2 else "b")) for i in range(50)]
    await store.erase_sender("r", "a")
    await asyncio.gather(*writes)
    await store.erase_sender("r", "a")  # what landed after the first pass
    messages = await store.read_after("r", 0, 2000)
    assert [m.offset for m in messages] == list(range(1, 1551))
    assert not any(m.sender == "a" for m in messages)
    assert sum(m.text.startswith("late") for m in messages) == 25
