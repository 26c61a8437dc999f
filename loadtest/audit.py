"""``python -m loadtest audit``: what the access journal costs (rtserver/audit, docs/audit.md).

Against the store itself (no node): a temporary SQLite file (the node's default durability,
``synchronous`` FULL in WAL mode) or, with ``--redis``, a redis-server the run starts.

- record: ``--records`` single accesses one after the other (what a join or a history page
  waits for), spread over ``--subjects`` people, then the same as portfolio reads of
  ``--portfolio`` jobseekers in one call; microseconds per entry, p50/p99 per call;
- verify: the journal filled to ``--verify-entries`` entries, then ``rtserver audit verify``
  run as an operator would, its wall time.

Bounded: at most MAX_RECORDS records and MAX_VERIFY_ENTRIES entries.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rtserver.audit.chain import Access, AccessKind
from rtserver.audit.stores import AuditStore, RedisAudit, SqliteAudit
from rtserver.backends.redis_link import RedisLink

from .report import default_path, failure_recorded, machine, write
from .server import LocalRedis

__all__ = ["add_parser", "check", "run"]

MAX_RECORDS = 100_000
MAX_VERIFY_ENTRIES = 1_000_000
FILL_BATCH = 500  # entries per append call while filling for verify


def add_parser(commands: Any) -> None:
    p = commands.add_parser("audit", help="access journal: cost of a record and of audit verify",
                            description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=2000, help="single records timed (2000)")
    p.add_argument("--subjects", type=int, default=200, help="people the records are about (200)")
    p.add_argument("--portfolio", type=int, default=150, help="jobseekers per portfolio read (150)")
    p.add_argument("--verify-entries", type=int, default=100_000, help="entries in the journal verified (100000)")
    p.add_argument("--redis", action="store_true", help="a redis-server the run starts (default SQLite)")
    p.add_argument("--redis-aof", action="store_true", help="with --redis: appendonly yes, appendfsync everysec")
    p.add_argument("--report", type=Path, help="JSON report path (default loadtest/reports/audit-TIME.json)")
    p.add_argument("--data-dir", help="where the temporary files go (default: the system's)")


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not 1 <= args.records <= MAX_RECORDS:
        parser.error(f"--records must be 1..{MAX_RECORDS}")
    if not 1 <= args.subjects <= args.records:
        parser.error("--subjects must be 1..--records")
    if not 1 <= args.portfolio <= 500:
        parser.error("--portfolio must be 1..500")
    if not 0 <= args.verify_entries <= MAX_VERIFY_ENTRIES:
        parser.error(f"--verify-entries must be 0..{MAX_VERIFY_ENTRIES}")


def _access(subject: int, i: int, kind: AccessKind = AccessKind.CONVERSATION_HISTORY) -> Access:
    return Access(kind, f"js-{subject}", f"adv-{subject % 40}", "bench001", f"bench001:1/{i}",
                  int(time.time() * 1000), {"room": f"followup-js-{subject}"})


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _record(store: AuditStore, args: argparse.Namespace) -> dict[str, Any]:
    calls: list[float] = []
    started = time.perf_counter()
    for i in range(args.records):
        t = time.perf_counter()
        await store.append([_access(i % args.subjects, i)])
        calls.append(time.perf_counter() - t)
    single = time.perf_counter() - started
    portfolio_calls: list[float] = []
    rounds = max(1, min(50, args.records // args.portfolio))
    for r in range(rounds):
        t = time.perf_counter()
        await store.append([_access(s, r, AccessKind.PORTFOLIO_READ) for s in range(args.portfolio)])
        portfolio_calls.append(time.perf_counter() - t)
    return {"single": {"records": args.records, "us_per_entry": round(single / args.records * 1e6, 1),
                       "p50_ms": round(_quantile(calls, 0.5) * 1e3, 3),
                       "p99_ms": round(_quantile(calls, 0.99) * 1e3, 3)},
            "portfolio": {"calls": rounds, "entries_per_call": args.portfolio,
                          "us_per_entry": round(sum(portfolio_calls) / (rounds * args.portfolio) * 1e6, 1),
                          "p50_ms": round(_quantile(portfolio_calls, 0.5) * 1e3, 3),
                          "p99_ms": round(_quantile(portfolio_calls, 0.99) * 1e3, 3)}}


async def _fill(store: AuditStore, total: int, subjects: int) -> float:
    started = time.perf_counter()
    i = 0
    while i < total:
        n = min(FILL_BATCH, total - i)
        await store.append([_access((i + k) % subjects, i + k) for k in range(n)])
        i += n
    return time.perf_counter() - started


def _verify(url: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "rtserver", "audit", "verify", "--store", url],
                          capture_output=True, text=True, env=env, timeout=1800)
    return {"command": f"rtserver audit verify --store {url}", "exit": done.returncode,
            "wall_s": round(time.perf_counter() - started, 2), "output": done.stdout.strip() or done.stderr.strip()}


async def run(args: argparse.Namespace) -> int:
    started = datetime.datetime.now()
    report_path = args.report or default_path("audit", started)
    report: dict[str, Any] = {"scenario": "audit", "started": started.isoformat(timespec="seconds"),
                              "machine": machine(), "options": {k: str(v) for k, v in vars(args).items()}}
    redis: LocalRedis | None = None
    link: RedisLink | None = None
    workdir = tempfile.mkdtemp(prefix="loadtest-audit-", dir=args.data_dir)
    with failure_recorded(report):
        if args.redis:
            redis = LocalRedis(args.data_dir, aof=args.redis_aof)
            redis.start()
            url = redis.url
            link = RedisLink(url, timeout_s=10.0)
            store: AuditStore = RedisAudit(link)
        else:
            url = f"sqlite:{workdir}/audit.db"
            store = SqliteAudit(url.removeprefix("sqlite:"))
        report["store"] = "redis" + (" (aof everysec)" if args.redis_aof else "") if args.redis else "sqlite"
        await store.open()
        try:
            report["record"] = await _record(store, args)
            already = args.records + args.portfolio * max(1, min(50, args.records // args.portfolio))
            if args.verify_entries > already:
                report["fill_s"] = round(await _fill(store, args.verify_entries - already, 1000), 2)
        finally:
            await store.close()
            if link is not None:
                await link.close()
        if args.verify_entries:
            report["verify"] = _verify(url)
    if redis is not None:
        redis.stop()
    write(report_path, report)
    rec = report.get("record", {})
    print(f"audit ({report.get('store')}): single record {rec.get('single')}; portfolio {rec.get('portfolio')}; "
          f"verify {report.get('verify')}", flush=True)
    return 1 if report.get("error") or report.get("verify", {}).get("exit", 0) else 0
