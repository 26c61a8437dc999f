"""One contract for both workflow stores (SQLite, Redis): caps, transfers, compare-and-set,
timers fired once, reply times. Concurrency is real: many calls at once, and on Redis from two
separate clients, as two nodes would be."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from redis_server import RedisServer, redis_available

from rtserver.backends.redis_link import RedisLink
from rtserver.errors import ErrorCode, RtError
from rtserver.workflow.redis_store import RedisWorkflowStore
from rtserver.workflow.sqlite_store import SqliteWorkflowStore
from rtserver.workflow.store import (
    Callback,
    CallbackStatus,
    Channel,
    Cover,
    FollowUpStatus,
    Timer,
    TimerKind,
    WorkflowStore,
)


@contextlib.contextmanager
def _sqlite(tmp_path) -> Iterator[Callable[[], WorkflowStore]]:
    yield lambda: SqliteWorkflowStore(str(tmp_path / "wf.db"))


@contextlib.contextmanager
def _redis(tmp_path) -> Iterator[Callable[[], WorkflowStore]]:
    if not redis_available():
        pytest.skip("redis-server is not installed (scripts/test installs it)")
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield lambda: RedisWorkflowStore(RedisLink(server.url, timeout_s=5.0))
    finally:
        server.kill()


@pytest.fixture(params=["sqlite", "redis"])
async def stores(request, tmp_path) -> AsyncIterator[list[WorkflowStore]]:
    """Two stores on the same data (two connections / two Redis clients), like two nodes."""
    with {"sqlite": _sqlite, "redis": _redis}[request.param](tmp_path) as factory:
        opened = [factory(), factory()]
        for s in opened:
            await s.open()
        yield opened
        for s in opened:
            await s.close()
            link = getattr(s, "_link", None)
            if link is not None:
                await link.close()


def _callback(cid: str = "cb1") -> Callback:
    return Callback(cid, "js-1", "why", Channel.PHONE, ((10, 20),), CallbackStatus.OPEN, 1, 10, 30, 1)


async def test_cap_holds_under_concurrent_assignments(stores):
    a, b = stores
    results = await asyncio.gather(*(
        (a if i % 2 else b).assign(f"js-{i}", "adv", room=f"followup-js-{i}", cap=5, now_ms=i) for i in range(20)),
        return_exceptions=True)
    assert sum(1 for r in results if not isinstance(r, BaseException)) == 5
    assert all(r.code is ErrorCode.PORTFOLIO_FULL for r in results if isinstance(r, RtError))
    assert (await a.portfolio_sizes()) == {"adv": 5}
    assert len(await b.portfolio("adv")) == 5


async def test_transfer_and_status_move_slots(stores):
    a, b = stores
    await a.assign("js-1", "adv-1", room="followup-js-1", cap=1, now_ms=1)
    await a.assign("js-2", "adv-2", room="followup-js-2", cap=1, now_ms=1)
    with pytest.raises(RtError) as full:
        await b.transfer("js-1", "adv-2", cap=1, now_ms=2)
    assert full.value.code is ErrorCode.PORTFOLIO_FULL
    out = await b.set_status("js-2", FollowUpStatus.OPTED_OUT, cap=1, now_ms=3)
    assert out.status is FollowUpStatus.OPTED_OUT and (await a.portfolio_sizes()).get("adv-2", 0) == 0
    previous, moved = await a.transfer("js-1", "adv-2", cap=1, now_ms=4)
    assert (previous, moved.advisor, moved.room) == ("adv-1", "adv-2", "followup-js-1")
    with pytest.raises(RtError) as full:  # js-2 comes back to a full adv-2
        await b.set_status("js-2", FollowUpStatus.ACTIVE, cap=1, now_ms=5)
    assert full.value.code is ErrorCode.PORTFOLIO_FULL
    with pytest.raises(RtError) as missing:
        await a.transfer("nobody", "adv-2", cap=1, now_ms=6)
    assert missing.value.code is ErrorCode.NOT_FOUND


async def test_compare_and_set_has_one_winner(stores):
    a, b = stores
    assert await a.save_callback(_callback(), expected_version=None)
    assert not await b.save_callback(_callback(), expected_version=None)  # exists already
    claims = [dataclasses.replace(_callback(), status=CallbackStatus.CLAIMED, claimed_by=f"adv-{i}")
              for i in range(16)]
    won = await asyncio.gather(*((a if i % 2 else b).save_callback(c, expected_version=1)
                                 for i, c in enumerate(claims)))
    assert won.count(True) == 1
    stored = await b.get_callback("cb1")
    assert stored.version == 2 and stored.claimed_by == f"adv-{won.index(True)}"
    assert [c.id for c in await a.pending_callbacks(["js-1"])] == ["cb1"]
    assert await a.save_callback(dataclasses.replace(stored, status=CallbackStatus.DONE), expected_version=2)
    assert await a.pending_callbacks(["js-1"]) == []
    assert [c.status for c in await b.callbacks_of("js-1", limit=10)] == [CallbackStatus.DONE]


async def test_each_timer_fires_once_across_nodes(stores):
    a, b = stores
    for i in range(10):
        await a.schedule(TimerKind.DIGEST, f"u{i}", 100 + i)
    await a.schedule(TimerKind.DIGEST, "u0", 500, keep_earlier=True)  # the earlier one stays
    await a.schedule(TimerKind.REMINDER, "later", 10_000)
    due = await b.due_timers(1000, limit=100)
    assert [t.ref for t in due] == [f"u{i}" for i in range(10)] and due[0].due_ms == 100
    claims = await asyncio.gather(*(s.claim_timer(t) for t in due for s in (a, b, a, b)))
    assert claims.count(True) == 10
    assert await a.due_timers(1000, limit=100) == []
    # A timer moved since it was listed is not claimed with its old due time.
    await a.schedule(TimerKind.DIGEST, "x", 50)
    await a.schedule(TimerKind.DIGEST, "x", 60)
    assert not await b.claim_timer(Timer(TimerKind.DIGEST, "x", 50))
    assert await b.claim_timer(Timer(TimerKind.DIGEST, "x", 60))


async def test_the_webhook_outbox_is_shared_and_kept_until_deleted(stores):
    a, b = stores
    assert await b.get_outbox("d1") is None
    await a.put_outbox("d1", b'{"attempt":1}')
    await a.put_outbox("d2", b"\x00binary\xff")
    assert await b.get_outbox("d1") == b'{"attempt":1}' and await b.get_outbox("d2") == b"\x00binary\xff"
    await b.put_outbox("d1", b'{"attempt":2}')  # replaced, not added
    assert await a.get_outbox("d1") == b'{"attempt":2}'
    await a.delete_outbox("d1")
    await a.delete_outbox("d1")  # twice: nothing to delete is fine
    assert await b.get_outbox("d1") is None and await b.get_outbox("d2") == b"\x00binary\xff"


async def test_reply_waits_and_samples(stores):
    a, b = stores
    assert await a.note_question("js-1", 1000)
    assert not await b.note_question("js-1", 2000)  # the wait started at the first message
    taken = await asyncio.gather(a.take_question("js-1"), b.take_question("js-1"))
    assert sorted(taken, key=lambda x: x is None) == [1000, None]
    for i in range(5):
        await a.add_reply_time("adv", 10_000 + i, float(i), keep=3)
    assert sorted(await b.reply_times("adv", since_ms=0)) == [2.0, 3.0, 4.0]
    assert await b.reply_times("adv", since_ms=10_004) == [4.0]


async def test_covers_are_shared_one_per_pair(stores):
    a, b = stores
    assert await b.get_cover("adv-a", "adv-b") is None and await b.covers_of("adv-a") == []
    await a.put_cover(Cover("c1", "adv-a", "adv-b", 2_000, 1_000))
    await a.put_cover(Cover("c2", "adv-a", "adv-c", 2_000, 1_000))
    await a.put_cover(Cover("c3", "adv-a", "adv-b", 3_000, 1_500))  # granted again: replaces c1
    found = await b.get_cover("adv-a", "adv-b")
    assert found is not None and found.id == "c3" and found.active(2_500) and not found.active(3_000)
    await b.put_cover(dataclasses.replace(found, revoked_ms=2_000))
    listed = await a.covers_of("adv-a")
    assert [(c.id, c.colleague, c.revoked_ms) for c in listed] == [("c3", "adv-b", 2_000), ("c2", "adv-c", None)]
    assert await a.covers_of("adv-b") == []


def test_records_written_before_covers_still_decode():
    old = _callback().encode().replace(',"covered":[]', "")
    assert '"covered"' not in old and Callback.decode(old).covered == ()


async def test_erase_person_deletes_their_records_and_keeps_the_others(stores):
    """workflow/erasure.py: the profile, callbacks, appointments (either side), the person's timers
    and digest marks go; the other party's profile, records and timers and the follow-up stay."""
    from rtserver.workflow.store import Appointment, AppointmentStatus, User

    a, b = stores
    await a.put_user(User("js-1", "Karim", "jobseeker", "karim@example.org", False, 1))
    await a.put_user(User("adv", "Claire", "advisor", "claire@example.org", True, 1))
    await a.assign("js-1", "adv", room="followup-js-1", cap=5, now_ms=1)
    for cid in ("cb1", "cb2"):
        assert await a.save_callback(_callback(cid), expected_version=None)
    shared = Appointment("ap1", "adv", "js-1", "followup-js-1", 1000, 30, AppointmentStatus.SCHEDULED, 1, 1)
    other = Appointment("ap2", "adv", "js-2", "followup-js-2", 2000, 30, AppointmentStatus.SCHEDULED, 1, 1)
    for appointment in (shared, other):
        assert await a.save_appointment(appointment, expected_version=None)
    for kind, ref in ((TimerKind.DIGEST, "js-1"), (TimerKind.UNANSWERED, "js-1"), (TimerKind.DIGEST, "adv")):
        await a.schedule(kind, ref, 5)
    await a.set_digest_marks("js-1", {"followup-js-1": 3})
    await a.note_question("js-1", 7)

    counts = await b.erase_person("js-1")

    assert counts == {"profile": 1, "callbacks": 2, "appointments": 1, "timers": 2}
    assert set(await a.get_users(["js-1", "adv"])) == {"adv"}
    assert await a.callbacks_of("js-1", limit=10) == [] and await a.pending_callbacks(["js-1"]) == []
    assert await a.get_appointment("ap1") is None
    assert [x.id for x in await a.appointments_of("adv", limit=10)] == ["ap2"]
    assert [(t.kind, t.ref) for t in await a.due_timers(10, limit=10)] == [(TimerKind.DIGEST, "adv")]
    assert await a.digest_marks("js-1") == {}
    assert await a.take_question("js-1") is None
    assert (await a.get_followup("js-1")).advisor == "adv"  # the follow-up record stays
    assert await b.erase_person("js-1") == {"profile": 0, "callbacks": 0, "appointments": 0, "timers": 0}


async def test_a_legal_hold_is_shared_set_replaced_and_lifted(stores):
    from rtserver.workflow.erasure import Hold

    a, b = stores
    assert await a.get_hold("js-1") is None
    await a.set_hold(Hold("js-1", "case 12", 5))
    await b.set_hold(Hold("js-1", "case 13", 6))
    assert await a.get_hold("js-1") == Hold("js-1", "case 13", 6)
    assert await b.clear_hold("js-1") is True
    assert await a.clear_hold("js-1") is False
    assert await a.get_hold("js-1") is None
