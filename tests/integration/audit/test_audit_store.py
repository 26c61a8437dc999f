"""One contract for the access journal's stores: SQLite and a real redis-server pass the same tests
(chaining per subject, two writers at once, queries paged by cursor, retention in batches, and
``rtserver audit verify`` finding an entry edited or deleted in the store itself)."""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis_server import RedisServer, redis_available

from rtserver.audit.chain import Access, AccessKind, Entry
from rtserver.audit.stores import AuditStore, RedisAudit, SqliteAudit
from rtserver.audit.verify import verify_journal
from rtserver.backends.redis_link import RedisLink
from rtserver.cli import main

DAY_MS = 86_400_000


class Backend:
    """Stores on one SQLite file or one redis-server, and a way to change what they hold behind their back."""

    def __init__(self, kind: str, url: str):
        self.kind, self.url = kind, url
        self._opened: list[tuple[AuditStore, RedisLink | None]] = []

    async def store(self) -> AuditStore:
        if self.kind == "sqlite":
            store: AuditStore = SqliteAudit(self.url.removeprefix("sqlite:"))
            link = None
        else:
            link = RedisLink(self.url, timeout_s=5.0)
            store = RedisAudit(link)
        await store.open()
        self._opened.append((store, link))
        return store

    async def close(self) -> None:
        for store, link in self._opened:
            await store.close()
            if link is not None:
                await link.close()

    async def edit(self, subject: str, seq: int, change: Callable[[dict[str, Any]], None] | None) -> None:
        """Rewrite entry ``seq`` of ``subject`` in place (``change`` its JSON), or delete it (None)."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.url.removeprefix("sqlite:")) as db:
                (n, data), = db.execute("SELECT n, data FROM audit_entries WHERE subject=? AND seq=?", (subject, seq))
                if change is None:
                    db.execute("DELETE FROM audit_entries WHERE n=?", (n,))
                else:
                    value = json.loads(data)
                    change(value)
                    db.execute("UPDATE audit_entries SET data=? WHERE n=?", (json.dumps(value), n))
            return
        client = Redis.from_url(self.url)
        try:
            members = await client.lrange(f"rt:{{audit}}:q:{subject}", 0, -1)
            first = int(await client.hget(f"rt:{{audit}}:m:{subject}", "first"))
            member = members[seq - first]
            if change is None:
                await client.lrem(f"rt:{{audit}}:q:{subject}", 1, member)
                await client.hdel("rt:{audit}:e", member)
            else:
                value = json.loads(await client.hget("rt:{audit}:e", member))
                change(value)
                await client.hset("rt:{audit}:e", member, json.dumps(value))
        finally:
            await client.aclose()

    async def truncate(self, subject: str) -> None:
        """Remove the stream's last entry and roll its head record back to the one before: what the
        chain alone cannot see."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.url.removeprefix("sqlite:")) as db:
                (seq,), = db.execute("SELECT head_seq FROM audit_streams WHERE subject=?", (subject,))
                db.execute("DELETE FROM audit_entries WHERE subject=? AND seq=?", (subject, seq))
                (data,), = db.execute("SELECT data FROM audit_entries WHERE subject=? AND seq=?", (subject, seq - 1))
                db.execute("UPDATE audit_streams SET head_seq=?, head_hash=? WHERE subject=?",
                           (seq - 1, json.loads(data)["hash"], subject))
            return
        client = Redis.from_url(self.url)
        try:
            member = await client.rpop(f"rt:{{audit}}:q:{subject}")
            await client.hdel("rt:{audit}:e", member)
            last = json.loads(await client.hget("rt:{audit}:e", await client.lindex(f"rt:{{audit}}:q:{subject}", -1)))
            await client.hset(f"rt:{{audit}}:m:{subject}", mapping={"head": last["seq"], "hash": last["hash"]})
        finally:
            await client.aclose()


@pytest.fixture(params=["sqlite", "redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        b = Backend("sqlite", f"sqlite:{tmp_path / 'audit.db'}")
        yield b
        await b.close()
        return
    if not redis_available():
        pytest.skip("redis-server is not installed (scripts/test installs it)")
    server = RedisServer(tmp_path / "redis")
    server.start()
    b = Backend("redis", server.url)
    try:
        yield b
    finally:
        await b.close()
        server.kill()


def access(subject: str, ts: int, actor: str = "adv", kind: AccessKind = AccessKind.CONVERSATION_JOIN,
           request: str = "r") -> Access:
    return Access(kind, subject, actor, "node1", request, ts, {"room": f"followup-{subject}"})


async def all_pages(store: AuditStore, limit: int, **kw: Any) -> list[Entry]:
    out: list[Entry] = []
    after = None
    for _ in range(10_000):
        page = await store.query(after=after, limit=limit, **{"subject": None, "actor": None, "since": 0, **kw})
        assert len(page.entries) <= limit
        out += page.entries
        if page.next is None:
            return out
        after = page.next
    raise AssertionError("paging never ended")


async def test_entries_chain_per_subject_and_verify(backend: Backend) -> None:
    store = await backend.store()
    written = await store.append([access("js1", 1000), access("js2", 1001)])
    written += await store.append([access("js1", 1002, actor="adv2"), access("js1", 1003)])
    assert [(e.subject, e.seq) for e in written] == [("js1", 1), ("js2", 1), ("js1", 2), ("js1", 3)]
    assert written[2].prev == written[0].hash and written[3].prev == written[2].hash
    report = await verify_journal(store)
    assert (report.streams, report.entries, report.problem) == (2, 4, None)


async def test_two_nodes_appending_for_the_same_person_never_fork_the_chain(backend: Backend) -> None:
    first, second = await backend.store(), await backend.store()
    await first.append([access("js", 1)])  # both now believe they know the head; the second one is wrong

    async def writes(store: AuditStore, actor: str) -> None:
        for i in range(40):
            await store.append([access("js", 10 + i, actor=actor), access(f"other-{actor}", 10 + i, actor=actor)])

    await asyncio.gather(writes(first, "a1"), writes(second, "a2"), writes(first, "a3"))
    report = await verify_journal(await backend.store())
    assert report.problem is None and report.entries == 1 + 3 * 80
    entries = await all_pages(first, 500, subject="js")
    assert sorted(e.seq for e in entries) == list(range(1, 122))


async def test_queries_by_subject_actor_both_or_all_page_completely_in_time_order(backend: Backend) -> None:
    store = await backend.store()
    rng = random.Random(7)
    written: list[Entry] = []
    for i in range(120):  # several entries per millisecond: the cursor must split them exactly
        batch = [access(f"js{rng.randrange(4)}", 1000 + i // 5, actor=f"adv{rng.randrange(3)}", request=str(i))]
        written += await store.append(batch)

    def expect(since: int = 0, subject: str | None = None, actor: str | None = None) -> list[str]:
        return [e.request for e in sorted(written, key=lambda e: e.ts_ms)
                if e.ts_ms >= since and subject in (None, e.subject) and actor in (None, e.actor)]

    for limit in (1, 7, 500):
        for kw in ({}, {"subject": "js1"}, {"actor": "adv2"}, {"subject": "js2", "actor": "adv0"}, {"since": 1010},
                   {"subject": "js3", "since": 1020}):
            got = [e.request for e in await all_pages(store, limit, **kw)]
            assert got == expect(**kw), (limit, kw)
    assert await all_pages(store, 10, subject="nobody") == []


async def test_sweep_deletes_in_batches_what_is_past_retention_and_nothing_else(backend: Backend) -> None:
    store = await backend.store()
    rng = random.Random(3)
    clock = {f"js{i}": 0 for i in range(6)}
    for _ in range(150):
        subject = rng.choice(sorted(clock))
        clock[subject] += rng.randrange(1, 50)
        await store.append([access(subject, clock[subject], actor=rng.choice(["a", "b"]))])
    before = await all_pages(store, 500)
    cutoff = 800
    removed = 0
    while (n := await store.sweep(cutoff, batch=7)) > 0:
        assert n <= 7
        removed += n
    after = await all_pages(store, 500)
    assert removed == sum(e.ts_ms < cutoff for e in before)
    assert sorted((e.subject, e.seq) for e in after) == sorted((e.subject, e.seq) for e in before if e.ts_ms >= cutoff)
    assert (await verify_journal(store)).problem is None
    assert await all_pages(store, 500, actor="a") == [e for e in after if e.actor == "a"]
    # A stream swept empty is gone; a later access starts a new chain that verifies too.
    while await store.sweep(10**6, batch=50):
        pass
    assert await all_pages(store, 500) == [] and (await verify_journal(store)).entries == 0
    again = await store.append([access("js0", 2_000_000)])
    assert again[0].seq == 1 and (await verify_journal(store)).problem is None


async def test_sweep_keeps_a_stream_whose_first_entry_is_stamped_later_than_the_next(backend: Backend) -> None:
    """Two nodes' clocks a little apart: the sweep deletes prefixes only, so the chain holds."""
    store = await backend.store()
    await store.append([access("js", 5000), access("js", 100), access("js", 6000)])
    assert await store.sweep(1000) == 0
    assert [e.seq for e in await all_pages(store, 10)] == [2, 1, 3]
    assert await store.sweep(5500) == 2
    assert (await verify_journal(store)).problem is None


@pytest.mark.parametrize("tamper", ["edit_actor", "edit_hash", "delete"])
async def test_verify_names_an_entry_edited_or_deleted_in_the_store(backend: Backend, tamper: str,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    store = await backend.store()
    for i in range(5):
        await store.append([access("js1", 1000 + i), access("js2", 1000 + i)])
    await store.sweep(1002)  # the anchor now stands for the two deleted entries of each stream
    change: dict[str, Callable[[dict[str, Any]], None] | None] = {
        "edit_actor": lambda e: e.update(actor="someone-else"), "edit_hash": lambda e: e.update(hash="0" * 64),
        "delete": None}
    await backend.edit("js2", 4, change[tamper])
    report = await verify_journal(store)
    assert report.problem is not None and (report.problem.subject, report.problem.seq) == ("js2", 4), report
    assert await asyncio.to_thread(main, ["audit", "verify", "--store", backend.url]) == 1
    assert "subject 'js2', entry 4" in capsys.readouterr().out


async def test_verify_command_passes_an_intact_journal(backend: Backend, capsys: pytest.CaptureFixture[str]) -> None:
    store = await backend.store()
    await store.append([access("js1", 1), access("js1", 2)])
    assert await asyncio.to_thread(main, ["audit", "verify", "--store", backend.url]) == 0
    assert "verified: 2 entries in 1 streams" in capsys.readouterr().out




async def test_the_journal_sweeps_by_retention_days_and_checks_its_settings(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry

    from rtserver.audit.journal import AccessJournal
    from rtserver.workflow.store import jobseeker_of_room

    store = SqliteAudit(str(tmp_path / "audit.db"))
    with pytest.raises(ValueError):
        AccessJournal(store, node_id="n", registry=CollectorRegistry(), retention_days=0,
                      subject_of_room=jobseeker_of_room)
    registry = CollectorRegistry()
    journal = AccessJournal(store, node_id="n", registry=registry, retention_days=365,
                            subject_of_room=jobseeker_of_room)
    journal.sweep_pause_s = 0.0
    await store.open()
    try:
        now = 1_800_000_000_000
        await store.append([access("js", now - 366 * DAY_MS), access("js", now - 364 * DAY_MS)])
        await store.append([access(f"old-{i}", now - 400 * DAY_MS) for i in range(5)])
        assert await journal.sweep(now, batch=2) == 6
        assert [(e.subject, e.seq) for e in await all_pages(store, 10)] == [("js", 2)]
        assert registry.get_sample_value("rtserver_audit_swept_total") == 6
        assert (await verify_journal(store)).problem is None
        # A jobseeker's own access is not journaled; a person listed twice is recorded once.
        await journal.record(AccessKind.CONVERSATION_JOIN, ["js", "js"], actor="js", request="r")
        await journal.record(AccessKind.PORTFOLIO_READ, ["a", "b", "a"], actor="adv", request="r")
        assert [e.subject for e in await all_pages(store, 10)] == ["js", "a", "b"]
        assert registry.get_sample_value("rtserver_audit_entries_total", {"kind": "portfolio.read"}) == 2
    finally:
        await store.close()


async def test_heads_kept_outside_show_the_newest_entries_removed_with_their_head(
        backend: Backend, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = await backend.store()
    now = int(time.time() * 1000)
    for i in range(3):
        await store.append([access("js1", now + i), access("js2", now + i)])
    heads = tmp_path / "heads.jsonl"
    verify = ["audit", "verify", "--store", backend.url]
    assert await asyncio.to_thread(main, [*verify, "--heads-out", str(heads)]) == 0
    assert len(heads.read_text().splitlines()) == 2
    await store.append([access("js1", now + 10)])  # later accesses: the kept heads still match
    assert await asyncio.to_thread(main, [*verify, "--heads-in", str(heads)]) == 0
    assert "2 heads kept outside still match" in capsys.readouterr().out
    await backend.truncate("js2")
    assert await asyncio.to_thread(main, verify) == 0  # the chain alone cannot tell
    assert await asyncio.to_thread(main, [*verify, "--heads-in", str(heads)]) == 1
    assert "subject 'js2', entry 3: missing" in capsys.readouterr().out
    # Past retention, a kept head may be gone: swept.
    assert await asyncio.to_thread(main, [*verify, "--heads-in", str(heads), "--audit-retention-days", "1"]) == 1
    old = tmp_path / "old.jsonl"
    old.write_text(heads.read_text().replace(f'"ts":{now + 2}', '"ts":1000'))
    assert await asyncio.to_thread(main, [*verify, "--heads-in", str(old)]) == 0
    old.write_text("not a head\n")
    assert await asyncio.to_thread(main, [*verify, "--heads-in", str(old)]) == 2
