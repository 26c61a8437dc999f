"""The retention sweep over real stores, SQLite and a real redis-server: what is past its
retention is gone after a sweep, and nothing else is (a property over random clocks and kinds);
two nodes sweeping one Redis at once delete each item once."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from redis_server import RedisServer, redis_available

from rtserver.backends import MemberRole, RoomKind
from rtserver.config import Settings
from rtserver.retention import LocalClaim, PassBudget, RetentionConfig, RetentionSweeper, sweeper_for
from rtserver.retention.policy import Kind
from rtserver.sections import StoreConfig
from rtserver.stores import StoreFamily, create_store_family
from rtserver.workflow.store import Appointment, AppointmentStatus, Callback, CallbackStatus, Channel
from rtserver.workflow.webhooks import Delivery

pytestmark = pytest.mark.timeout(180)

DAY = 86_400_000
NOW = 1_800_000_000_000  # the sweep's clock in every test: 2027-01-15
RETENTION = {"retention_messages_days": 30, "retention_callbacks_days": 20, "retention_appointments_days": 10,
             "retention_precall_results_days": 5, "retention_webhook_outbox_days": 3,
             "interview_outcomes_retention_days": 15}


@contextlib.asynccontextmanager
async def _family(url: str) -> AsyncIterator[StoreFamily]:
    family = create_store_family(StoreConfig.from_settings(Settings(store=url, **RETENTION)))
    stores = (family.backends.store, family.workflow, family.checks, family.outcomes)
    for s in stores:
        await s.open()
    try:
        yield family
    finally:
        for s in reversed(stores):
            await s.close()


@pytest.fixture(params=["sqlite", "redis"])
async def store_url(request, tmp_path: Path) -> AsyncIterator[Callable[[], Any]]:
    """A factory of fresh, empty stores of one family (each example of a property gets its own)."""
    if request.param == "sqlite":
        count = iter(range(10_000))
        yield lambda: f"sqlite:{tmp_path / f'rt{next(count)}.db'}"
        return
    if not redis_available():
        pytest.skip("redis-server is not installed (scripts/test installs it)")
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        def fresh() -> str:
            server.cli("flushall")
            return server.url
        yield fresh
    finally:
        server.kill()


def _sweeper(family: StoreFamily, *, batch: int = 7, max_batches: int = 10_000, claim: Any = None,
             node: str = "n1") -> RetentionSweeper:
    config = RetentionConfig.from_settings(Settings(**RETENTION))
    sweeper = sweeper_for(config, family.reapers(), family.retention_claim(node), registry=CollectorRegistry())
    if claim is not None:
        sweeper._claim = claim
    sweeper._budget = PassBudget(batch, max_batches, 0.0)
    return sweeper


# -- the data, with the anchors the sweep judges it by ------------------------------------------------------
async def _put(family: StoreFamily, kind: Kind, ident: str, anchor_ms: int, *, pending: bool = False) -> None:
    wf = family.workflow
    if kind is Kind.CALLBACKS:
        status = CallbackStatus.OPEN if pending else CallbackStatus.DONE
        cb = Callback(ident, f"js-{ident}", "why", Channel.PHONE, ((anchor_ms, anchor_ms + 1),), status, anchor_ms,
                      anchor_ms, anchor_ms + 1, anchor_ms)
        assert await wf.save_callback(cb, expected_version=None)
    elif kind is Kind.APPOINTMENTS:
        ap = Appointment(ident, "adv-1", f"js-{ident}", "followup-x", anchor_ms, 30, AppointmentStatus.HELD,
                         anchor_ms - DAY, anchor_ms)
        assert await wf.save_appointment(ap, expected_version=None)
    elif kind is Kind.WEBHOOK_OUTBOX:
        body = json.dumps({"id": ident, "type": "t", "created": anchor_ms, "data": {}}).encode()
        await wf.put_outbox(ident, Delivery(ident, "http://127.0.0.1:9/", body, "t", ident, 2).encode())
    elif kind is Kind.PRECALL_RESULTS:
        await family.checks.save(f"u-{ident}", {"verdict": "ok", "n": ident}, ts_ms=anchor_ms)
    elif kind is Kind.INTERVIEW_OUTCOMES:
        await family.outcomes.save({"id": ident, "room": "followup-x", "advisor": "adv-1", "started": anchor_ms,
                                    "ended": anchor_ms + 60_000, "outcome": "clean"})


async def _held(family: StoreFamily, kind: Kind, ident: str) -> bool:
    wf = family.workflow
    if kind is Kind.CALLBACKS:
        return await wf.get_callback(ident) is not None
    if kind is Kind.APPOINTMENTS:
        return await wf.get_appointment(ident) is not None
    if kind is Kind.WEBHOOK_OUTBOX:
        return await wf.get_outbox(ident) is not None
    if kind is Kind.INTERVIEW_OUTCOMES:
        held = await family.outcomes.of_advisor("adv-1", since=0, until=2**62, limit=1000)
        return any(r["id"] == ident for r in held)
    return bool(await family.checks.history(f"u-{ident}", limit=5))


RECORD_KINDS = (Kind.CALLBACKS, Kind.APPOINTMENTS, Kind.WEBHOOK_OUTBOX, Kind.PRECALL_RESULTS, Kind.INTERVIEW_OUTCOMES)
KEEP_DAYS = {Kind.MESSAGES: 30, Kind.CALLBACKS: 20, Kind.APPOINTMENTS: 10, Kind.PRECALL_RESULTS: 5,
             Kind.WEBHOOK_OUTBOX: 3, Kind.INTERVIEW_OUTCOMES: 15}

# An example: a clock (when the sweep runs, relative to NOW), items of each record kind at ages in
# days (some pending callbacks), and rooms whose messages were written at increasing ages.
AGES = st.integers(min_value=0, max_value=40 * 24)  # hours
EXAMPLES = st.fixed_dictionaries({
    "clock_h": st.integers(min_value=-48, max_value=48),
    "records": st.lists(st.tuples(st.sampled_from(RECORD_KINDS), AGES, st.booleans()), max_size=14),
    "rooms": st.lists(st.lists(AGES, max_size=12), max_size=4),
})


def drawn(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """``count`` examples, the same on every run (hypothesis generates; the async test runs them)."""
    out: list[Any] = []

    @settings(max_examples=count, deadline=None, derandomize=True, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(value: Any) -> None:
        out.append(value)

    collect()
    return out


async def test_past_retention_is_gone_after_a_sweep_and_nothing_else(store_url):
    for example in drawn(EXAMPLES, 12):
        now = NOW + example["clock_h"] * 3_600_000
        async with _family(store_url()) as family:
            expected: dict[tuple[Kind, str], bool] = {}
            for i, (kind, age_h, pending) in enumerate(example["records"]):
                ident = f"{kind}-{i}"
                anchor = NOW - age_h * 3_600_000
                await _put(family, kind, ident, anchor, pending=pending)
                due = anchor < now - KEEP_DAYS[kind] * DAY and not (kind is Kind.CALLBACKS and pending)
                expected[(kind, ident)] = not due
            store = family.backends.store
            rooms: dict[str, list[int]] = {}
            for r, ages in enumerate(example["rooms"]):
                room = f"room-{r}"
                await store.create_room(room, RoomKind.GROUP, room, {"a": MemberRole.MEMBER}, max_members=10)
                stamps = sorted(NOW - h * 3_600_000 for h in ages)  # a room is written in time order
                for ts in stamps:
                    await store.append(room, sender="a", name="A", text=f"t{ts}", key=None, ts_ms=ts)
                rooms[room] = stamps

            sweeper = _sweeper(family)
            deleted = await sweeper.sweep(now_ms=now)

            for (kind, ident), kept in expected.items():
                assert await _held(family, kind, ident) == kept, (kind, ident, example)
            cutoff = now - KEEP_DAYS[Kind.MESSAGES] * DAY
            for room, stamps in rooms.items():
                kept = [m.ts_ms for m in await store.read_after(room, 0, 100)]
                assert kept == [ts for ts in stamps if ts >= cutoff], example
                assert await store.head(room) == len(stamps)  # offsets continue where they were
            # The pass was not cut short: nothing held is past its retention, but for open callbacks.
            open_due = any(k is Kind.CALLBACKS and pending and NOW - age_h * 3_600_000 < now - 20 * DAY
                           for k, age_h, pending in example["records"])
            for kind in KEEP_DAYS:
                overdue = sweeper.overdue.labels(kind=str(kind))._value.get()
                assert (overdue > 0) == (kind is Kind.CALLBACKS and open_due), (kind, example)
            gone = sum(not k for k in expected.values()) + sum(
                sum(ts < cutoff for ts in stamps) for stamps in rooms.values())
            assert sum(deleted.values()) == gone


async def test_a_resume_from_a_deleted_offset_replays_what_is_kept_and_says_truncated(store_url):
    async with _family(store_url()) as family:
        store = family.backends.store
        await store.create_room("r", RoomKind.GROUP, "r", {"a": MemberRole.MEMBER}, max_members=10)
        for i in range(10):
            await store.append("r", sender="a", name="A", text=f"m{i}", key=None, ts_ms=NOW - (40 - i) * DAY)
        assert await store.first_offset("r") == 1
        await _sweeper(family).sweep(now_ms=NOW)  # 40 to 31 days old, past 30 days: all ten go
        assert await store.first_offset("r") is None and await store.head("r") == 10
        await store.append("r", sender="a", name="A", text="new", key=None, ts_ms=NOW)
        assert await store.first_offset("r") == 11
        assert [m.offset for m in await store.read_before("r", None, 50)] == [11]


async def test_what_a_pass_cut_short_leaves_shows_as_overdue_and_the_next_pass_takes_it(store_url):
    async with _family(store_url()) as family:
        store = family.backends.store
        for r in range(6):
            await store.create_room(f"r{r}", RoomKind.GROUP, "r", {"a": MemberRole.MEMBER}, max_members=10)
            for i in range(5):
                await store.append(f"r{r}", sender="a", name="A", text="x", key=None, ts_ms=NOW - 40 * DAY + i)
        sweeper = _sweeper(family, batch=4, max_batches=2, claim=LocalClaim())  # every pass its turn
        assert (await sweeper.sweep(now_ms=NOW))[Kind.MESSAGES] == 8
        overdue = sweeper.overdue.labels(kind="messages")._value.get()
        assert 10 * 86_400 - 1 <= overdue <= 10 * 86_400  # 40 days old, 30 kept
        total = 8
        for _ in range(5):
            total += (await sweeper.sweep(now_ms=NOW))[Kind.MESSAGES]
        assert total == 30 and sweeper.overdue.labels(kind="messages")._value.get() == 0


async def test_sqlite_clears_idempotency_keys_past_their_retention(tmp_path: Path):
    async with _family(f"sqlite:{tmp_path / 'rt.db'}") as family:
        store = family.backends.store
        await store.create_room("r", RoomKind.GROUP, "r", {"a": MemberRole.MEMBER}, max_members=10)
        await store.append("r", sender="a", name="A", text="old", key="k1", ts_ms=NOW - 2 * DAY)
        await store.append("r", sender="a", name="A", text="new", key="k2", ts_ms=NOW - 1000)
        deleted = await _sweeper(family).sweep(now_ms=NOW)
        assert deleted[Kind.IDEMPOTENCY_KEYS] == 1
        again = await store.append("r", sender="a", name="A", text="old", key="k1", ts_ms=NOW)
        assert not again.duplicate and again.message.offset == 3  # the key was forgotten: a new message
        assert (await store.append("r", sender="a", name="A", text="new", key="k2", ts_ms=NOW)).duplicate


async def test_two_redis_nodes_sweeping_at_once_delete_each_item_once(tmp_path: Path):
    if not redis_available():
        pytest.skip("redis-server is not installed (scripts/test installs it)")
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        async with _family(server.url) as one, _family(server.url) as two:
            store = one.backends.store
            due = 0
            for r in range(30):
                room = f"room-{r}"
                await store.create_room(room, RoomKind.GROUP, room, {"a": MemberRole.MEMBER}, max_members=10)
                for i in range(20):
                    age = (60 - 2 * i) * DAY  # 60 days old down to 22: the first 15 are past 30 days
                    await store.append(room, sender="a", name="A", text="x", key=None, ts_ms=NOW - age)
                    due += age > 30 * DAY
            for i in range(40):
                await _put(one, Kind.CALLBACKS, f"cb{i}", NOW - (i + 1) * DAY)  # 20 days: 20 are due
                await _put(one, Kind.APPOINTMENTS, f"ap{i}", NOW - (i + 1) * DAY)  # 10 days: 30 are due
            always = LocalClaim()  # no claim: both nodes sweep everything at once, batch by batch
            a, b = _sweeper(one, batch=5, claim=always, node="a"), _sweeper(two, batch=5, claim=always, node="b")
            done_a, done_b = await asyncio.gather(a.sweep(now_ms=NOW), b.sweep(now_ms=NOW))
            assert done_a[Kind.MESSAGES] + done_b[Kind.MESSAGES] == due == 30 * 15
            assert done_a[Kind.CALLBACKS] + done_b[Kind.CALLBACKS] == 20
            assert done_a[Kind.APPOINTMENTS] + done_b[Kind.APPOINTMENTS] == 30
            for r in range(30):
                assert [m.offset for m in await store.read_after(f"room-{r}", 0, 100)] == list(range(16, 21))
            assert [i for i in range(40) if await _held(one, Kind.CALLBACKS, f"cb{i}")] == list(range(20))
            assert [i for i in range(40) if await _held(one, Kind.APPOINTMENTS, f"ap{i}")] == list(range(10))

            # With the claim, one node sweeps each kind per interval; the other skips it.
            for i in range(40, 50):
                await _put(one, Kind.CALLBACKS, f"cb{i}", NOW - 30 * DAY)
            c, d = _sweeper(one, node="c"), _sweeper(two, node="d")
            done_c, done_d = await asyncio.gather(c.sweep(now_ms=NOW), d.sweep(now_ms=NOW))
            assert sorted([done_c.get(Kind.CALLBACKS), done_d.get(Kind.CALLBACKS)], key=str) == [10, None]
    finally:
        server.kill()
