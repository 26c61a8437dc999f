"""``python -m loadtest retention``: the retention sweep's cost on a large store.

Fills a store with ``--messages`` chat messages spread over ``--rooms`` rooms (written from 60
days ago to 1 day ago, in time order per room: with the 30-day retention, about half are due),
straight into the SQLite file (or, ``--redis``, into a redis-server the run starts), then starts
a node on it whose first retention sweep runs ``--baseline`` seconds after start. Meanwhile
``--pairs`` two-person conversations send ``--rate`` messages/s in all, and every ack's latency is
kept with its time. Reported: the sweep's wall time (from the first deletion seen on /metrics to
the last, polled every 100 ms), the messages it deleted, and the send latency (p50, p99, max)
before the sweep and while it runs. Bounded: at most MAX_MESSAGES messages, MAX_RATE sends/s.
Numbers: docs/retention.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import math
import re
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any

import aiohttp
import msgpack

from rtserver.auth import mint_token
from rtserver.backends import sqlite_retention
from rtserver.backends.sqlite_store import SCHEMA
from rtserver.client import Client

from .report import default_path, failure_recorded, machine, write
from .server import LocalRedis, LocalServer, Target, wait_ready

__all__ = ["add_parser", "check", "run"]

MAX_MESSAGES = 5_000_000
MAX_RATE = 2000
DAY_MS = 86_400_000
RETENTION_DAYS = 30
_DELETED = re.compile(r'^rtserver_retention_deleted_total\{kind="messages"\} ([0-9.e+]+)$', re.M)


def add_parser(commands: Any) -> None:
    p = commands.add_parser("retention", help="the retention sweep on a large store: wall time, send p99",
                            description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, default=1_000_000,
                   help=f"messages in the store (1M, at most {MAX_MESSAGES})")
    p.add_argument("--rooms", type=int, default=10_000, help="rooms they are spread over (10 000)")
    p.add_argument("--pairs", type=int, default=20, help="conversations sending during the run (20)")
    p.add_argument("--rate", type=float, default=200.0, help=f"sends per second in all (200, at most {MAX_RATE})")
    p.add_argument("--baseline", type=float, default=10.0, help="seconds from start to the first sweep (10)")
    p.add_argument("--batch", type=int, default=500, help="retention_batch of the node (500)")
    p.add_argument("--pause", type=float, default=0.005, help="retention_batch_pause_s of the node (0.005)")
    p.add_argument("--timeout", type=float, default=600.0, help="give up on the sweep after this (600 s)")
    p.add_argument("--redis", action="store_true", help="store in a redis-server the run starts (default SQLite)")
    p.add_argument("--report", type=Path, help="JSON report path (default loadtest/reports/retention-TIME.json)")
    p.add_argument("--data-dir", help="where the server's files go (default: the system's temporary directory)")


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not 1 <= args.messages <= MAX_MESSAGES or not 1 <= args.rooms <= args.messages:
        parser.error(f"--messages must be 1..{MAX_MESSAGES} and --rooms 1..--messages")
    if not 0 < args.rate <= MAX_RATE or args.pairs < 1 or args.baseline <= 0:
        parser.error(f"--rate must be in (0, {MAX_RATE}], --pairs and --baseline positive")


def _stamps(rooms: int, messages: int, now_ms: int) -> list[list[int]]:
    """Per room, its messages' times: 60 days ago to 1 day ago, oldest first."""
    per = [messages // rooms + (1 if r < messages % rooms else 0) for r in range(rooms)]
    return [[now_ms - int((60 - 59 * (j + 1) / n) * DAY_MS) for j in range(n)] for n in per]


def _fill_sqlite(path: Path, stamps: list[list[int]]) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA + sqlite_retention.INDEX)
    conn.execute("PRAGMA journal_mode=WAL")
    with conn:
        for r, times in enumerate(stamps):
            room = f"old-{r}"
            conn.execute("INSERT INTO rooms (id, kind, epoch, title, created_ms, head) VALUES (?,?,?,?,?,?)",
                         (room, "group", secrets.token_hex(8), room, times[0] if times else 0, len(times)))
            conn.executemany("INSERT INTO messages (room, offset, ts_ms, sender, name, text, key) VALUES "
                             "(?,?,?,?,?,?,NULL)",
                             [(room, j + 1, ts, "u", "U", "x" * 64) for j, ts in enumerate(times)])
    conn.close()


async def _fill_redis(url: str, stamps: list[list[int]]) -> None:
    from rtserver.backends import redis_keys as k
    from rtserver.backends.redis_link import RedisLink

    link = RedisLink(url, timeout_s=30.0)
    try:
        for r, times in enumerate(stamps):
            room = f"old-{r}"
            async with link.client.pipeline(transaction=False) as pipe:
                pipe.hset(k.room_meta(room), mapping={"kind": "group", "title": room, "epoch": secrets.token_hex(8),
                                                      "created_ms": times[0] if times else 0, "head": len(times)})
                for j, ts in enumerate(times):
                    event = {"type": "message", "room": room, "offset": j + 1, "ts": ts, "from": "u", "name": "U",
                             "text": "x" * 64}
                    pipe.xadd(k.room_log(room), {"e": msgpack.packb(event)}, id=f"{j + 1}-0")
                await pipe.execute()
    finally:
        await link.close()


async def _deleted(session: aiohttp.ClientSession, target: Target) -> float:
    async with session.get(target.url + "/metrics") as resp:
        found = _DELETED.search(await resp.text())
    return float(found.group(1)) if found else 0.0


def _figures(samples: list[float]) -> dict[str, Any]:
    if not samples:
        return {"count": 0}
    ordered = sorted(samples)

    def at(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)] * 1000, 2)

    return {"count": len(ordered), "p50": at(50), "p99": at(99), "max": round(ordered[-1] * 1000, 2)}


async def _measure(args: argparse.Namespace, target: Target, due: int, report: dict[str, Any]) -> None:
    ws_url = target.url.replace("http", "ws", 1) + "/ws"
    clients: list[Client] = []
    acks: list[tuple[float, float]] = []  # (when sent, latency s)
    stop = asyncio.Event()

    async def sender(client: Client, room: str, every_s: float) -> None:
        next_at = time.monotonic()
        while not stop.is_set():
            started = time.monotonic()
            await client.send(room, "during the sweep " + "y" * 48)
            acks.append((started, time.monotonic() - started))
            next_at += every_s
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async with aiohttp.ClientSession() as session:
        headers = {"X-Api-Key": target.api_key}
        for i in range(args.pairs):
            body = {"id": f"live-{i}", "kind": "conversation", "title": "live",
                    "members": [{"user": f"a{i}", "role": "member"}, {"user": f"b{i}", "role": "member"}]}
            async with session.post(target.url + "/api/rooms", json=body, headers=headers) as resp:
                assert resp.status < 300, await resp.text()
        for i in range(args.pairs):
            client = Client(ws_url, token=mint_token(secret=target.secret, user_id=f"a{i}", role="jobseeker"),
                            reconnect=False)
            await client.connect()
            await client.join(f"live-{i}")
            clients.append(client)
        tasks = [asyncio.create_task(sender(c, f"live-{i}", args.pairs / args.rate)) for i, c in enumerate(clients)]
        first = last = None
        deadline = time.monotonic() + args.baseline + args.timeout
        try:
            while time.monotonic() < deadline:
                n = await _deleted(session, target)
                now = time.monotonic()
                if n > 0 and first is None:
                    first = now
                if n >= due:
                    last = now
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(2.0)  # a tail after the sweep
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        report["deleted"] = int(await _deleted(session, target))
    report["due"] = due
    report["sweep_wall_s"] = None if first is None or last is None else round(last - first, 2)
    before = [lat for at, lat in acks if first is None or at < first]
    during = [lat for at, lat in acks if first is not None and at >= first and (last is None or at <= last)]
    report["send_ms_before"] = _figures(before)
    report["send_ms_during"] = _figures(during)


async def run(args: argparse.Namespace) -> int:
    started = datetime.datetime.now()
    t0 = time.monotonic()
    report_path = args.report or default_path("retention", started)
    report: dict[str, Any] = {"scenario": "retention", "started": started.isoformat(timespec="seconds"),
                              "machine": machine(), "options": {k: str(v) for k, v in vars(args).items()}}
    redis: LocalRedis | None = None
    server: LocalServer | None = None
    with failure_recorded(report):
        now_ms = int(time.time() * 1000)
        stamps = _stamps(args.rooms, args.messages, now_ms)
        due = sum(ts < now_ms - RETENTION_DAYS * DAY_MS for times in stamps for ts in times)
        env = {"RTSERVER_RETENTION_MESSAGES_DAYS": str(RETENTION_DAYS),
               "RTSERVER_RETENTION_SWEEP_S": str(args.baseline),
               "RTSERVER_RETENTION_BATCH": str(args.batch), "RTSERVER_RETENTION_BATCH_PAUSE_S": str(args.pause),
               "RTSERVER_RETENTION_MAX_BATCHES": "1000000"}
        fill_started = time.monotonic()
        if args.redis:
            redis = LocalRedis(args.data_dir, aof=False)
            redis.start()
            await _fill_redis(redis.url, stamps)
            server = LocalServer(env, args.data_dir, store=redis.url)
        else:
            server = LocalServer(env, args.data_dir)
            _fill_sqlite(server.dir / "rt.db", stamps)
        report["fill_s"] = round(time.monotonic() - fill_started, 1)
        server.start()
        target = server.target
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, target, server.proc, timeout=120.0)
        await _measure(args, target, due, report)
        report["server"] = {"store": "redis" if args.redis else "sqlite", "settings": server.settings()}
    if server is not None:
        report.setdefault("server", {})["exit_code"] = server.stop()
    if redis is not None:
        redis.stop()
    report["duration_s"] = round(time.monotonic() - t0, 2)
    write(report_path, report)
    with contextlib.suppress(BrokenPipeError):
        print(_summary(report, report_path), flush=True)
    return 1 if report.get("error") else 0


def _summary(report: dict[str, Any], path: Any) -> str:
    if report.get("error"):
        return f"retention: failed: {report['error']} (report {path})"
    o, b, d = report["options"], report["send_ms_before"], report["send_ms_during"]
    return "\n".join([
        f"retention: {o['messages']} messages in {o['rooms']} rooms ({report['server']['store']}), "
        f"{report['due']} due; report {path}",
        f"  sweep: {report['deleted']} deleted in {report['sweep_wall_s']} s "
        f"(batch {o['batch']}, pause {o['pause']} s)",
        f"  sends at {o['rate']}/s before: p50 {b.get('p50')} ms, p99 {b.get('p99')} ms, max {b.get('max')} ms "
        f"({b['count']})",
        f"  sends during the sweep: p50 {d.get('p50')} ms, p99 {d.get('p99')} ms, max {d.get('max')} ms "
        f"({d['count']})"])
