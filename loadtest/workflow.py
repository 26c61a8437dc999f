"""``python -m loadtest workflow``: the follow-up workflow at the scale advisors work at.

Starts a node (SQLite, or ``--redis`` for a redis-server the run starts), creates ``--advisors``
advisors with ``--portfolio`` jobseekers each (the service plans 100-150), each with a follow-up
and its conversation; ``--online`` jobseekers per advisor connect and write one message (so rows
carry presence and unread counts). Then, ``--rounds`` times per advisor, it measures what an
advisor's console asks for: the portfolio over HTTP and over the WebSocket (presence, unread
count and latest pre-call check of every row), the callback queue, and a jobseeker's callback
request followed by the advisor's claim. Bounded: at most MAX_ADVISORS x MAX_PORTFOLIO users and
MAX_ROUNDS rounds. Numbers: loadtest/README.md, "Workflow".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import math
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from rtserver.auth import mint_token
from rtserver.client import Client

from .report import default_path, failure_recorded, machine, write
from .server import LocalRedis, LocalServer, Target, wait_ready
from .stats import cpu_seconds, memory

__all__ = ["add_parser", "check", "run"]

MAX_ADVISORS = 20
MAX_PORTFOLIO = 500
MAX_ROUNDS = 1000
HOUR_MS = 3_600_000


def add_parser(commands: Any) -> None:
    p = commands.add_parser("workflow", help="follow-up workflow benchmark (portfolios, callbacks)",
                            description=__doc__.splitlines()[0])
    p.add_argument("--advisors", type=int, default=4, help=f"advisors (default 4, at most {MAX_ADVISORS})")
    p.add_argument("--portfolio", type=int, default=150,
                   help=f"jobseekers per advisor (default 150, at most {MAX_PORTFOLIO})")
    p.add_argument("--online", type=int, default=20, help="jobseekers per advisor connected, one message each (20)")
    p.add_argument("--rounds", type=int, default=50,
                   help=f"measurements of each request per advisor (50, at most {MAX_ROUNDS})")
    p.add_argument("--redis", action="store_true", help="store in a redis-server the run starts (default SQLite)")
    p.add_argument("--report", type=Path, help="JSON report path (default loadtest/reports/workflow-TIME.json)")
    p.add_argument("--data-dir", help="where the server's temporary files go (default: the system's)")


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not 1 <= args.advisors <= MAX_ADVISORS:
        parser.error(f"--advisors must be 1..{MAX_ADVISORS}")
    if not 1 <= args.portfolio <= MAX_PORTFOLIO:
        parser.error(f"--portfolio must be 1..{MAX_PORTFOLIO}")
    if not 1 <= args.online <= args.portfolio:
        parser.error("--online must be 1..--portfolio")
    if not 1 <= args.rounds <= MAX_ROUNDS:
        parser.error(f"--rounds must be 1..{MAX_ROUNDS}")


def figures(samples_s: list[float]) -> dict[str, Any]:
    """``{count, p50, p90, p99, max}`` in milliseconds (nearest rank)."""
    ordered = sorted(samples_s)
    out: dict[str, Any] = {"count": len(ordered)}
    for point in (50, 90, 99):
        out[f"p{point}"] = round(ordered[max(0, math.ceil(len(ordered) * point / 100) - 1)] * 1000, 2) \
            if ordered else None
    out["max"] = round(ordered[-1] * 1000, 2) if ordered else None
    return out


async def _timed(samples: list[float], call: Awaitable[Any]) -> Any:
    started = time.perf_counter()
    result = await call
    samples.append(time.perf_counter() - started)
    return result


class Api:
    def __init__(self, session: aiohttp.ClientSession, target: Target):
        self._session, self._target = session, target

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        async with self._session.request(method, self._target.url + path, json=body,
                                         headers={"X-Api-Key": self._target.api_key}) as resp:
            data = await resp.json()
            if resp.status >= 300:
                raise RuntimeError(f"{method} {path}: {resp.status} {data}")
            return data


async def _bounded(concurrency: int, calls: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    gate = asyncio.Semaphore(concurrency)

    async def one(call: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await call()

    return await asyncio.gather(*(one(c) for c in calls))


async def _measure(args: argparse.Namespace, target: Target, report: dict[str, Any]) -> None:
    ws_url = target.url.replace("http", "ws", 1) + "/ws"
    clients: list[Client] = []

    async def connect(user: str, role: str) -> Client:
        client = Client(ws_url, token=mint_token(secret=target.secret, user_id=user, role=role, ttl_s=3600),
                        reconnect=False)
        await client.connect()
        clients.append(client)
        return client

    async with aiohttp.ClientSession() as session:
        api = Api(session, target)
        advisors = [f"adv-{a}" for a in range(args.advisors)]
        seekers = {adv: [f"js-{a}-{j}" for j in range(args.portfolio)] for a, adv in enumerate(advisors)}
        users = [(adv, "advisor") for adv in advisors] + [(js, "jobseeker") for adv in advisors for js in seekers[adv]]
        await _bounded(16, [lambda u=u, r=r: api.call("PUT", f"/api/users/{u}", {
            "name": u.upper(), "role": r, "email": "", "volunteer": r == "advisor"}) for u, r in users])
        assign: list[float] = []
        setup_started = time.perf_counter()
        await _bounded(16, [lambda adv=adv, js=js: _timed(assign, api.call(
            "POST", "/api/followups", {"jobseeker": js, "advisor": adv})) for adv in advisors for js in seekers[adv]])
        report["assign_ms"] = figures(assign)
        report["assign_per_s"] = round(len(assign) / (time.perf_counter() - setup_started), 1)

        try:
            online = {adv: [await connect(js, "jobseeker") for js in seekers[adv][:args.online]] for adv in advisors}
            for adv in advisors:
                for client in online[adv]:
                    room = f"followup-{client.hello['user']}"
                    await client.join(room)
                    await client.send(room, "Bonjour, j'ai une question sur mon dossier.")
            consoles = {adv: await connect(adv, "advisor") for adv in advisors}
            http_portfolio: list[float] = []
            ws_portfolio: list[float] = []
            queue: list[float] = []
            request: list[float] = []
            claim: list[float] = []
            rows = unread = 0
            now = int(time.time() * 1000)
            for round_ in range(args.rounds):
                for adv in advisors:
                    listed = await _timed(http_portfolio, api.call("GET", f"/api/advisors/{adv}/portfolio"))
                    rows = len(listed["portfolio"])
                    ws = await _timed(ws_portfolio, consoles[adv].request("followup"))
                    unread = sum(1 for row in ws["portfolio"] if row.get("unread"))
                    await _timed(queue, consoles[adv].request("callbacks"))
                    jobseeker = online[adv][round_ % len(online[adv])]
                    made = await _timed(request, jobseeker.request(
                        "callback_request", reason="Rappel", channel="phone",
                        windows=[{"start": now + HOUR_MS, "end": now + 2 * HOUR_MS}]))
                    cid = made["callback"]["id"]
                    await _timed(claim, consoles[adv].request("callback_claim", callback=cid))
                    await consoles[adv].request("callback_outcome", callback=cid, outcome="done")
            report.update(rows_per_portfolio=rows, unread_rows=unread,
                          portfolio_http_ms=figures(http_portfolio), portfolio_ws_ms=figures(ws_portfolio),
                          callback_queue_ms=figures(queue), callback_request_ms=figures(request),
                          callback_claim_ms=figures(claim))
        finally:
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)


async def run(args: argparse.Namespace) -> int:
    started = datetime.datetime.now()
    t0 = time.monotonic()
    report_path = args.report or default_path("workflow", started)
    report: dict[str, Any] = {"scenario": "workflow", "started": started.isoformat(timespec="seconds"),
                              "machine": machine(), "options": {k: str(v) for k, v in vars(args).items()}}
    redis: LocalRedis | None = None
    server: LocalServer | None = None
    with failure_recorded(report):
        store = None
        if args.redis:
            redis = LocalRedis(args.data_dir, aof=False)
            redis.start()
            store = redis.url
        cap = str(max(150, args.portfolio))
        server = LocalServer({"RTSERVER_PORTFOLIO_CAP": cap}, args.data_dir, store=store)
        server.start()
        target = server.target
        async with aiohttp.ClientSession() as session:
            await wait_ready(session, target, server.proc)
        cpu_before = cpu_seconds(target.pid) if target.pid else None
        await _measure(args, target, report)
        if target.pid:
            cpu_after = cpu_seconds(target.pid)
            report["server_cpu_s"] = None if cpu_before is None or cpu_after is None else round(
                cpu_after - cpu_before, 2)
            report["server_memory"] = memory(target.pid)
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
        return f"workflow: failed: {report['error']} (report {path})"
    o = report["options"]
    lines = [f"workflow: {o['advisors']} advisors x {o['portfolio']} jobseekers ({report['server']['store']}), "
             f"{o['online']} online each, {o['rounds']} rounds; report {path}",
             f"  assignments: {report['assign_per_s']}/s, p50 {report['assign_ms']['p50']} ms"]
    for key, label in (("portfolio_http_ms", "portfolio (HTTP)"), ("portfolio_ws_ms", "portfolio (WebSocket)"),
                       ("callback_queue_ms", "callback queue"), ("callback_request_ms", "callback request"),
                       ("callback_claim_ms", "callback claim")):
        f = report[key]
        lines.append(f"  {label}: p50 {f['p50']} ms, p90 {f['p90']} ms, p99 {f['p99']} ms, max {f['max']} ms "
                     f"({f['count']})")
    lines.append(f"  rows {report['rows_per_portfolio']} (unread {report['unread_rows']}); server CPU "
                 f"{report.get('server_cpu_s')} s, RSS {(report.get('server_memory') or {}).get('rss_kib')} KiB")
    return "\n".join(lines)
