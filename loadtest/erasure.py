"""``python -m loadtest erasure``: what a person's erasure costs on a long conversation.

A ``SqliteStore`` (or, ``--redis``, a ``RedisStore`` on a redis-server the run starts) is filled
with one conversation of ``--messages`` messages, every other one the person's, and
``--other-rooms`` rooms where ``--pairs`` senders keep writing at ``--rate`` appends per second
in all. The run times those appends for ``--baseline`` seconds, then erases the person
(``Store.erase_sender`` on the conversation, as ``DELETE /api/users/{id}/data`` does) while
they go on, and reports the erasure's wall time and the appends' latency before and during it.
The store is called in-process (no WebSocket): what is measured is the store's share.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import tempfile
import time
from pathlib import Path
from typing import Any

from rtserver.backends import MemberRole, RedisStore, RoomKind, SqliteStore, Store
from rtserver.backends.redis_link import RedisLink

from .report import default_path, failure_recorded, machine, write
from .server import LocalRedis

__all__ = ["add_parser", "check", "run"]

FILL_CONCURRENCY = 200


def add_parser(commands: Any) -> None:
    p = commands.add_parser("erasure", help="a person's erasure on a long conversation, with sends going on",
                            description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=100_000, help="messages in the conversation (100000)")
    p.add_argument("--other-rooms", type=int, default=20, help="rooms written to meanwhile (20)")
    p.add_argument("--rate", type=float, default=200.0, help="appends per second to them, in all (200)")
    p.add_argument("--baseline", type=float, default=5.0, help="seconds of appends before the erasure (5)")
    p.add_argument("--redis", action="store_true", help="store in a redis-server the run starts (default SQLite)")
    p.add_argument("--report", type=Path, help="JSON report path (default loadtest/reports/erasure-TIME.json)")
    p.add_argument("--data-dir", help="where the store's files go (default: the system's temporary directory)")


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not 1 <= args.messages <= 10_000_000:
        parser.error("--messages must be 1..10000000")
    if not 1 <= args.other_rooms <= 1000 or not 0 < args.rate <= 5000:
        parser.error("--other-rooms must be 1..1000 and --rate 0..5000")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1) if ordered else 0.0


def _summary(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "p50_ms": _pct(values, 0.5), "p99_ms": _pct(values, 0.99),
            "max_ms": round(max(values, default=0.0) * 1000, 1)}


async def _fill(store: Store, messages: int) -> float:
    started = time.perf_counter()
    await store.create_room("followup-js", RoomKind.CONVERSATION, "", {"js": MemberRole.MEMBER,
                                                                        "adv": MemberRole.MEMBER}, max_members=10)
    text = "x" * 64
    for start in range(0, messages, FILL_CONCURRENCY):
        await asyncio.gather(*(store.append("followup-js", sender="js" if i % 2 == 0 else "adv", name="N",
                                            text=text, key=None, ts_ms=1000 + i)
                               for i in range(start, min(messages, start + FILL_CONCURRENCY))))
    return time.perf_counter() - started


async def _sends(store: Store, rooms: list[str], rate: float, until: asyncio.Event,
                 marks: dict[str, list[float]], phase: dict[str, str]) -> None:
    interval, i = 1.0 / rate, 0
    started = time.perf_counter()

    async def one(room: str) -> None:
        t0 = time.perf_counter()
        await store.append(room, sender="a", name="A", text="y" * 64, key=None, ts_ms=int(time.time() * 1000))
        marks[phase["now"]].append(time.perf_counter() - t0)

    tasks = set()
    while not until.is_set():
        task = asyncio.create_task(one(rooms[i % len(rooms)]))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        i += 1
        await asyncio.sleep(max(0.0, started + i * interval - time.perf_counter()))
    await asyncio.gather(*tasks)


async def run(args: argparse.Namespace) -> int:
    started = datetime.datetime.now()
    report_path = args.report or default_path("erasure", started)
    report: dict[str, Any] = {"scenario": "erasure", "started": started.isoformat(timespec="seconds"),
                              "machine": machine(), "options": {k: str(v) for k, v in vars(args).items()}}
    redis: LocalRedis | None = None
    with failure_recorded(report):
        if args.redis:
            redis = LocalRedis(args.data_dir)
            redis.start()
            store: Store = RedisStore(RedisLink(redis.url, timeout_s=10.0), retention_messages=0,
                                      idempotency_ttl_s=3600)
        else:
            store = SqliteStore(f"{tempfile.mkdtemp(prefix='loadtest-erasure-', dir=args.data_dir)}/rt.db")
        report["store"] = "redis" if args.redis else "sqlite (synchronous=full)"
        await store.open()
        try:
            report["fill_s"] = round(await _fill(store, args.messages), 1)
            rooms = [f"room-{i}" for i in range(args.other_rooms)]
            for room in rooms:
                await store.create_room(room, RoomKind.GROUP, "", {"a": MemberRole.MEMBER}, max_members=10)
            marks: dict[str, list[float]] = {"before": [], "during": [], "after": []}
            phase, stop = {"now": "before"}, asyncio.Event()
            sender = asyncio.create_task(_sends(store, rooms, args.rate, stop, marks, phase))
            await asyncio.sleep(args.baseline)
            phase["now"] = "during"
            t0 = time.perf_counter()
            changed = await store.erase_sender("followup-js", "js")
            report["erase_s"] = round(time.perf_counter() - t0, 2)
            phase["now"] = "after"
            stop.set()
            await sender
            report["erased"] = changed
            report["sends"] = {k: _summary(v) for k, v in marks.items() if k != "after"}
        finally:
            await store.close()
    if redis is not None:
        redis.stop()
    write(report_path, report)
    print(f"erasure ({report.get('store')}): {report.get('erased')} of {args.messages} messages made tombstones "
          f"in {report.get('erase_s')} s; appends before {report.get('sends', {}).get('before')}, during "
          f"{report.get('sends', {}).get('during')}", flush=True)
    return 1 if report.get("error") else 0
