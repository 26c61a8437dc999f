"""``python -m loadtest chat {room,one2one,idle} [options]``: benchmark the chat server.
``python -m loadtest media [options]``: benchmark media forwarding (see ``media.py``).
``python -m loadtest workflow [options]``: portfolios and callbacks at scale (see ``workflow.py``).
``python -m loadtest retention [options]``: the retention sweep on a 1M-message store (see ``retention.py``).
``python -m loadtest calibrate [options]``: the pre-call check against real interviews (see ``calibrate.py``).
``python -m loadtest audit [options]``: the access journal's record and verify costs (see ``audit.py``).
``python -m loadtest erasure [options]``: a person's erasure on a long conversation (see ``erasure.py``).

By default a server is started for the run (127.0.0.1, free port, temporary SQLite file, random
secret and API key, generous rate limits) and stopped at the end; ``--url``, ``--secret`` and
``--api-key`` target a running one instead (``--server-pid`` adds its CPU and memory readings).
``--nodes N`` starts a ``redis-server`` and N nodes sharing it; ``--url`` given several times (or
comma-separated) targets several running nodes. Connections are spread round-robin over the nodes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import resource
import secrets
import signal
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from . import audit, calibrate, erasure, media, retention, workflow
from .pool import WorkerPool
from .report import default_path, failure_recorded, machine, summary, write
from .scenarios import SCENARIOS, Context, parse_rates
from .server import LocalRedis, LocalServer, Target, wait_ready

__all__ = ["main"]


def _common(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("load generator")
    g.add_argument("--workers", type=int, default=2, help="load-generator processes (default 2)")
    g.add_argument("--codec", choices=("json", "msgpack"), default="json", help="subprotocol (default json)")
    g.add_argument("--text-size", type=int, default=64, help="characters per message text (default 64, min 17)")
    g.add_argument("--use-key", action="store_true", help="send an idempotency key with every message")
    g.add_argument("--connect-concurrency", type=int, default=50, help="connections opening at once per worker")
    g.add_argument("--connect-timeout", type=float, default=30.0, help="seconds for connect, hello and join")
    g.add_argument("--report", type=Path, help="JSON report path (default loadtest/reports/SCENARIO-TIME.json)")
    g.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    s = parser.add_argument_group("server (default: start one for the run)")
    s.add_argument("--nodes", type=int, default=1,
                   help="nodes to start (default 1); above 1 they share a redis-server the benchmark starts")
    s.add_argument("--redis-aof", action="store_true",
                   help="run that redis-server with --appendonly yes --appendfsync everysec (default: no persistence)")
    s.add_argument("--url", action="append", default=[],
                   help="use running node(s), e.g. http://127.0.0.1:8080; repeat or comma-separate for several")
    s.add_argument("--secret", help="its token secret (with --url)")
    s.add_argument("--api-key", help="its X-Api-Key (with --url)")
    s.add_argument("--server-pid", type=int, action="append", default=[],
                   help="process id of each --url node, in the same order, for CPU and memory readings")
    s.add_argument("--redis-pid", type=int, help="process id of the running nodes' redis-server, for its CPU")
    s.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                   help="extra environment for the started server, e.g. RTSERVER_SQLITE_SYNCHRONOUS=normal")
    s.add_argument("--data-dir", help="directory for the started server's temporary SQLite file")


def _steps(parser: argparse.ArgumentParser, rate: str, duration: float) -> None:
    g = parser.add_argument_group("rate steps")
    g.add_argument("--rate", default=rate,
                   help=f"messages/s in total: N, a list N1,N2,... or START:STOP:STEP (default {rate})")
    g.add_argument("--duration", type=float, default=duration, help=f"seconds per step (default {duration:g})")
    g.add_argument("--find-max", action="store_true",
                   help="from the first --rate, grow by --growth until a step fails, then bisect")
    g.add_argument("--growth", type=float, default=1.5, help="rate factor while searching (default 1.5)")
    g.add_argument("--precision", type=float, default=0.1, help="stop bisecting within this fraction (0.1)")
    g.add_argument("--max-steps", type=int, default=10, help="most steps in a --find-max search (default 10)")
    g.add_argument("--keep-going", action="store_true", help="run every listed rate even after a failure")
    g.add_argument("--pause", type=float, default=2.0, help="seconds between steps (default 2)")
    g.add_argument("--p99-limit-ms", type=float, help="a step passes below this p99 (room 150, one2one 50)")
    g.add_argument("--ack-timeout", type=float, default=10.0, help="seconds to wait for acks after a step")
    g.add_argument("--drain-timeout", type=float, default=10.0, help="seconds to wait for deliveries after a step")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loadtest", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    chat = commands.add_parser("chat", help="chat benchmarks")
    scenarios = chat.add_subparsers(dest="scenario", required=True)

    room = scenarios.add_parser("room", help="one room: fan-out of every message to all members")
    room.add_argument("--members", type=int, default=1000, help="members, each one connection (default 1000)")
    room.add_argument("--senders", type=int, default=10, help="members that also send (default 10)")
    room.add_argument("--kind", choices=("group", "broadcast"), default="group", help="room kind (default group)")
    _steps(room, "60", 10.0)
    _common(room)

    one = scenarios.add_parser("one2one", help="many two-person conversations: store and acknowledge")
    one.add_argument("--conversations", type=int, default=5000, help="conversations, two connections each")
    _steps(one, "5000", 10.0)
    _common(one)

    idle = scenarios.add_parser("idle", help="idle connections: server memory per connection")
    idle.add_argument("--connections", type=int, default=10_000, help="connections (default 10000)")
    idle.add_argument("--settle", type=float, default=3.0, help="seconds to wait before each memory reading")
    idle.add_argument("--hold", type=float, default=5.0, help="seconds to hold the connections afterwards")
    _common(idle)
    media.add_parser(commands)
    workflow.add_parser(commands)
    audit.add_parser(commands)
    retention.add_parser(commands)
    erasure.add_parser(commands)
    calibrate.add_parser(commands)
    return parser


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    args.url = [u.strip().rstrip("/") for item in args.url for u in item.split(",") if u.strip()]
    if args.url and not (args.secret and args.api_key):
        parser.error("--url needs --secret and --api-key")
    if args.server_pid and len(args.server_pid) != len(args.url):
        parser.error("give one --server-pid per --url node, in the same order")
    if not 1 <= args.nodes <= 16:
        parser.error("--nodes must be 1..16")
    if args.url and args.nodes != 1:
        parser.error("--nodes starts nodes; with --url, list the running nodes instead")
    if args.scenario == "idle" and (args.nodes > 1 or len(args.url) > 1):
        parser.error("idle measures one node's memory: use --nodes 1 and one --url")
    if args.workers < 1 or args.workers > 64:
        parser.error("--workers must be 1..64")
    if args.text_size < 17:
        parser.error("--text-size must be at least 17 (the send time takes 16)")
    if hasattr(args, "rate"):
        try:
            parse_rates(args.rate)
        except ValueError as exc:
            parser.error(f"--rate: {exc}")
        if args.duration <= 0 or args.duration > 3600:
            parser.error("--duration must be in (0, 3600]")
    for item in args.server_env:
        if "=" not in item:
            parser.error(f"--server-env {item!r}: expected NAME=VALUE")


def _raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _run(args: argparse.Namespace) -> int:
    started = datetime.datetime.now()
    t0 = time.monotonic()
    report_path = args.report or default_path(args.scenario, started)
    config_view = {k: v for k, v in vars(args).items() if k not in ("secret", "api_key", "report")}
    report: dict[str, Any] = {"scenario": args.scenario, "started": started.isoformat(timespec="seconds"),
                              "machine": machine(), "options": config_view, "report_path": str(report_path)}
    servers: list[LocalServer] = []
    redis: LocalRedis | None = None
    redis_pid: int | None = args.redis_pid
    pool: WorkerPool | None = None
    ctx: Context | None = None
    with failure_recorded(report):
        if args.url:
            pids = args.server_pid or [None] * len(args.url)
            targets = [Target(url, args.secret, args.api_key, pid) for url, pid in zip(args.url, pids, strict=True)]
            report["server"] = {"url": targets[0].url, "pid": targets[0].pid, "local": False,
                                "nodes": [{"url": t.url, "pid": t.pid} for t in targets]}
            if redis_pid:
                report["redis"] = {"pid": redis_pid, "local": False}
        else:
            extra_env = dict(item.split("=", 1) for item in args.server_env)
            store = secret = api_key = None
            if args.nodes > 1:
                redis = LocalRedis(args.data_dir, aof=args.redis_aof)
                report["redis"] = {"local": True}
                redis.start()
                redis_pid = redis.pid
                report["redis"].update(redis.settings())
                store, secret, api_key = redis.url, secrets.token_urlsafe(32), secrets.token_urlsafe(16)
            for _ in range(args.nodes):
                server = LocalServer(extra_env, args.data_dir, store=store, secret=secret, api_key=api_key)
                servers.append(server)
                server.start()
            targets = [server.target for server in servers]
            report["server"] = {"url": targets[0].url, "pid": targets[0].pid, "local": True,
                                "settings": servers[0].settings(),
                                "nodes": [{"url": t.url, "pid": t.pid} for t in targets]}
        async with aiohttp.ClientSession() as session:
            for i, target in enumerate(targets):
                await wait_ready(session, target, servers[i].proc if servers else None)
            config = {"nodes": [(t.host, t.port) for t in targets], "secret": targets[0].secret,
                      "codec": args.codec, "text_size": args.text_size, "use_key": args.use_key,
                      "token_ttl": 86_400.0, "connect_concurrency": args.connect_concurrency,
                      "connect_timeout": args.connect_timeout}
            pool = WorkerPool(args.workers, config)
            pool.start()
            ctx = Context(args, targets[0], session, pool, secrets.token_hex(3), targets=targets,
                          redis_pid=redis_pid)
            report["scenario_result"] = await SCENARIOS[args.scenario](ctx)
    if ctx is not None and ctx.progress is not None:
        await ctx.progress.stop()
    if pool is not None:
        await pool.close()
    codes: list[int | None] = []
    if servers:
        report.setdefault("server", {"local": True}).setdefault("nodes", [{} for _ in servers])
    for i, server in enumerate(servers):  # every node gets SIGTERM, even if one of them fails to stop
        try:
            if report.get("error"):
                report["server"]["nodes"][i]["log_tail"] = server.log_tail()
            codes.append(server.stop())
        except Exception as exc:  # pragma: no cover - best effort clean-up
            codes.append(None)
            report.setdefault("cleanup_errors", []).append(f"node {i}: {exc}")
    if servers:
        report["server"]["exit_code"] = next((c for c in codes if c != 0), 0)
        report["server"]["exit_codes"] = codes
        if report.get("error"):
            report["server"]["log_tail"] = servers[0].log_tail()
    if redis is not None:
        if report.get("error"):
            report["redis"]["log_tail"] = redis.log_tail()
        report["redis"]["exit_code"] = redis.stop()
    report["duration_s"] = round(time.monotonic() - t0, 2)
    write(report_path, report)
    with contextlib.suppress(BrokenPipeError):
        print(summary(report), flush=True)
    return 1 if report.get("error") else 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "media":
        media.check(parser, args)
    elif args.command == "workflow":
        workflow.check(parser, args)
    elif args.command == "audit":
        audit.check(parser, args)
    elif args.command == "retention":
        retention.check(parser, args)
    elif args.command == "erasure":
        erasure.check(parser, args)
    elif args.command == "calibrate":
        calibrate.check(parser, args)
    else:
        _check(parser, args)
    _raise_file_limit()
    try:
        import uvloop
        loop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    runs = {"media": media.run, "workflow": workflow.run, "calibrate": calibrate.run, "audit": audit.run,
            "retention": retention.run, "erasure": erasure.run}
    task = loop.create_task(runs.get(args.command, _run)(args))
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        return loop.run_until_complete(task)
    except asyncio.CancelledError:
        return 130
    finally:
        with contextlib.suppress(Exception):
            loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


if __name__ == "__main__":
    sys.exit(main())
