"""One contract for the interview outcome stores: SQLite and a real redis-server pass the same tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis_server import RedisServer, redis_available

from rtserver.backends.redis_link import RedisLink
from rtserver.outcomes import stores
from rtserver.outcomes.stores import OutcomeStore, RedisOutcomes, SqliteOutcomes


@pytest.fixture(params=["sqlite", "redis"])
async def store(request, tmp_path) -> AsyncIterator[OutcomeStore]:
    if request.param == "sqlite":
        s: OutcomeStore = SqliteOutcomes(str(tmp_path / "outcomes.db"))
        await s.open()
        yield s
        await s.close()
        return
    if not redis_available():
        pytest.skip("redis-server is not installed (scripts/test installs it)")
    server = RedisServer(tmp_path / "redis")
    server.start()
    link = RedisLink(server.url, timeout_s=5.0)
    try:
        yield RedisOutcomes(link)
    finally:
        await link.close()
        server.kill()


def record(rid: str, started: int, outcome: str = "clean", advisor: str | None = "adv", **extra: Any) -> dict[str, Any]:
    return {"id": rid, "room": f"room-{rid}", "advisor": advisor, "started": started, "ended": started + 600_000,
            "outcome": outcome, "problems": [], "ended_by": "normal", "video_s": 600.0, "connect_s": 1.5, **extra}


async def test_saved_records_read_back_newest_first_within_the_period(store: OutcomeStore) -> None:
    for i in range(5):
        await store.save(record(f"r{i}", 1000 * i))
    await store.save(record("other", 2500, advisor="adv2"))
    got = await store.of_advisor("adv", since=1000, until=4000, limit=10)
    assert [r["id"] for r in got] == ["r3", "r2", "r1"]  # [since, until): 4000 is out
    assert got[0] == record("r3", 3000)
    assert [r["id"] for r in await store.of_advisor("adv", since=0, until=10_000, limit=2)] == ["r4", "r3"]
    assert await store.of_advisor("nobody", since=0, until=10_000, limit=10) == []


async def test_a_record_saved_again_replaces_the_checkpoint(store: OutcomeStore) -> None:
    await store.save(record("r", 1000, "failed", ended_by="host_lost"))
    await store.save(record("r", 1000, "clean"))
    got = await store.of_advisor("adv", since=0, until=2000, limit=10)
    assert len(got) == 1 and got[0]["outcome"] == "clean" and got[0]["ended_by"] == "normal"
    assert (await store.counts(since=0, until=2000))["failed"] == 0


async def test_counts_by_outcome_all_or_one_advisor(store: OutcomeStore) -> None:
    outcomes = ["clean", "clean", "degraded", "failed", "unattended", "clean"]
    for i, outcome in enumerate(outcomes):
        await store.save(record(f"r{i}", 1000 * i, outcome, advisor="adv" if i % 2 == 0 else "adv2"))
    await store.save(record("noadv", 500, "failed", advisor=None))
    assert await store.counts(since=0, until=10_000) == {"clean": 3, "degraded": 1, "failed": 2, "unattended": 1}
    assert await store.counts(since=0, until=10_000, advisor="adv") == \
        {"clean": 1, "degraded": 1, "failed": 0, "unattended": 1}
    assert await store.counts(since=1000, until=3000) == {"clean": 1, "degraded": 1, "failed": 0, "unattended": 0}
    assert await store.counts(since=0, until=10_000, advisor="nobody") == stores.empty_counts()


async def test_sweep_removes_what_started_before_the_cutoff(store: OutcomeStore, monkeypatch) -> None:
    monkeypatch.setattr(stores, "SWEEP_BATCH", 3)  # several Redis batches
    for i in range(8):
        await store.save(record(f"r{i}", 1000 * i, advisor="adv" if i % 2 else "adv2"))
    await store.save(record("noadv", 0, advisor=None))
    assert await store.sweep(5000) == 6  # r0..r4 and noadv
    left = await store.of_advisor("adv", since=0, until=10_000, limit=10) + \
        await store.of_advisor("adv2", since=0, until=10_000, limit=10)
    assert sorted(r["id"] for r in left) == ["r5", "r6", "r7"]
    assert sum((await store.counts(since=0, until=10_000)).values()) == 3
    assert await store.sweep(5000) == 0


async def test_the_recorder_sweeps_by_retention_days_and_checks_its_settings(tmp_path) -> None:
    from types import SimpleNamespace

    from prometheus_client import CollectorRegistry

    from rtserver.outcomes.recorder import DAY_MS, OutcomeRecorder

    media = SimpleNamespace(rooms={}, on_interview_closed=None)
    for bad in ({"retention_days": 0, "checkpoint_s": 60.0}, {"retention_days": 400, "checkpoint_s": 0.0}):
        with pytest.raises(ValueError):
            OutcomeRecorder(SqliteOutcomes(str(tmp_path / "x.db")), media=media,  # type: ignore[arg-type]
                            registry=CollectorRegistry(), **bad)
    store = SqliteOutcomes(str(tmp_path / "outcomes.db"))
    recorder = OutcomeRecorder(store, media=media, registry=CollectorRegistry(),  # type: ignore[arg-type]
                               retention_days=400, checkpoint_s=60.0)
    assert media.on_interview_closed == recorder.closed
    await store.open()
    try:
        now = 1_800_000_000_000
        await store.save(record("old", now - 401 * DAY_MS))
        await store.save(record("kept", now - 399 * DAY_MS))
        assert await recorder.sweep(now) == 1
        assert [r["id"] for r in await store.of_advisor("adv", since=0, until=now, limit=10)] == ["kept"]
    finally:
        await store.close()
