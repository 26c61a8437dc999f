"""The three chat scenarios: ``room`` (fan-out), ``one2one`` (many conversations), ``idle`` (memory).

Each scenario creates its rooms over the HTTP API, hands its connections to the workers, runs
one or more measured steps and returns the scenario part of the report. With several nodes
(``ctx.targets``), rooms are created through the first one (they share Redis) and each worker
spreads its connections round-robin over the nodes; CPU is read per node and for redis-server.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from .pool import Progress, WorkerPool
from .server import Target, create_rooms, histogram_delta, scrape_all, sum_samples
from .stats import cpu_seconds, memory, merge, percentiles, system_cpu

__all__ = ["SCENARIOS", "Context"]

Spec = tuple[str, str, str, bool]  # user, role, room, sends
NodeSpec = tuple[str, str, str, bool, int]  # ... and the index of the node to connect to


@dataclasses.dataclass
class Context:
    args: Any
    target: Target
    session: aiohttp.ClientSession
    pool: WorkerPool
    run_id: str
    progress: Progress | None = None
    targets: list[Target] = dataclasses.field(default_factory=list)  # every node; [target] when empty
    redis_pid: int | None = None

    def __post_init__(self) -> None:
        if not self.targets:
            self.targets = [self.target]

    @property
    def pids(self) -> list[int | None]:
        return [t.pid for t in self.targets]

    def notes(self, text: str) -> None:
        if self.progress is not None:
            self.progress.note(text)


# -- shared pieces ---------------------------------------------------------------------------
def _assign_nodes(per_worker: list[list[Spec]], nodes: int, pairs: bool = False) -> list[list[NodeSpec]]:
    """Round-robin over the nodes within each worker, each worker starting one node further on, so
    that every node gets about the same number of connections and of senders. ``pairs``: both
    sides of a two-person conversation (adjacent specs) go to different nodes when there are several,
    so that every message crosses Redis pub/sub."""
    result = []
    for w, specs in enumerate(per_worker):
        if pairs:
            result.append([(*spec, (j // 2 + w + j % 2) % nodes) for j, spec in enumerate(specs)])
        else:
            result.append([(*spec, (j + w) % nodes) for j, spec in enumerate(specs)])
    return result


async def _connect(ctx: Context, per_worker: list[list[Spec]], label: str, pairs: bool = False) -> dict[str, Any]:
    total = sum(len(specs) for specs in per_worker)
    ctx.progress = Progress(ctx.pool, label, enabled=not ctx.args.quiet, expect_connections=total)
    ctx.progress.start()
    started = time.monotonic()
    assigned = _assign_nodes(per_worker, len(ctx.targets), pairs)
    replies = await ctx.pool.call("connect", [{"conns": specs} for specs in assigned],
                                  timeout=120 + total / 50)
    errors: dict[str, int] = {}
    for reply in replies:
        for err, count in reply["connect_errors"].items():
            errors[err] = errors.get(err, 0) + count
    result = {"requested": total, "connected": sum(r["connected"] for r in replies),
              "failed": sum(r["failed"] for r in replies), "errors": errors,
              "seconds": round(time.monotonic() - started, 2),
              "heads": {k: v for r in replies for k, v in r["heads"].items()}}
    per_node = [0] * len(ctx.targets)
    senders_per_node = [0] * len(ctx.targets)
    for reply in replies:
        for i, count in enumerate(reply["per_node"]):
            per_node[i] += count
        for i, count in enumerate(reply["senders_per_node"]):
            senders_per_node[i] += count
    result["per_node"] = per_node
    result["senders_per_node"] = senders_per_node
    if len(ctx.targets) > 1:  # as the nodes count them (rtserver_connections), to check the spread
        result["per_node_server"] = [int(m.get("rtserver_connections", -1)) for m in
                                     await scrape_all(ctx.session, ctx.targets)]
    ctx.notes(f"connected {result['connected']}/{total} in {result['seconds']} s"
              + (f", {result['failed']} failed: {errors}" if errors else ""))
    return result


Snapshot = tuple[list[float | None], float | None, tuple[float, float] | None, float]


def _cpu_snapshot(pids: list[int | None], redis_pid: int | None = None) -> Snapshot:
    return ([cpu_seconds(pid) if pid else None for pid in pids], cpu_seconds(redis_pid) if redis_pid else None,
            system_cpu(), time.monotonic())


def _cpu_used(pids: list[int | None], before: Snapshot, redis_pid: int | None = None) -> dict[str, Any]:
    """Server CPU over the step: per node and in total (``server_cpu_s``), redis-server's, the machine's."""
    cpus0, redis0, sys0, t0 = before
    cpus1 = [cpu_seconds(pid) if pid else None for pid in pids]
    redis1 = cpu_seconds(redis_pid) if redis_pid else None
    sys1 = system_cpu()
    elapsed = time.monotonic() - t0
    used: dict[str, Any] = {"wall_s": round(elapsed, 3), "server_cpu_s": None, "machine_busy_pct": None}
    per_node = [None if a is None or b is None else round(b - a, 3) for a, b in zip(cpus0, cpus1, strict=True)]
    if per_node and all(x is not None for x in per_node):
        total = sum(x for x in per_node if x is not None)
        used["server_cpu_s"] = round(total, 3)
        used["server_cpu_pct"] = round(100 * total / elapsed, 1)
    if len(pids) > 1:
        used["node_cpu_s"] = per_node
        used["node_cpu_pct"] = [None if x is None else round(100 * x / elapsed, 1) for x in per_node]
    if redis_pid:
        used["redis_cpu_s"] = None if redis0 is None or redis1 is None else round(redis1 - redis0, 3)
        used["redis_cpu_pct"] = None if used["redis_cpu_s"] is None else round(100 * used["redis_cpu_s"] / elapsed, 1)
    if sys0 and sys1 and sys1[1] > sys0[1]:
        used["machine_busy_pct"] = round(100 * (sys1[0] - sys0[0]) / (sys1[1] - sys0[1]), 1)
    return used


async def _step(ctx: Context, rate: float, shares: list[float]) -> dict[str, Any]:
    """One measured step: every worker sends its share of ``rate`` for ``--duration`` s, then drains."""
    args = ctx.args
    nodes_before = await scrape_all(ctx.session, ctx.targets)
    metrics_before = sum_samples(nodes_before)
    before = _cpu_snapshot(ctx.pids, ctx.redis_pid)
    start_at = time.time() + 0.3
    runs = await ctx.pool.call(
        "run", [{"rate": rate * share, "duration": args.duration, "start_at": start_at,
                 "ack_timeout": args.ack_timeout} for share in shares],
        timeout=args.duration + args.ack_timeout + 60)
    final: dict[str, int] = {}
    for run in runs:
        for room, offset in run["room_max"].items():
            if offset > final.get(room, 0):
                final[room] = offset
    drains = await ctx.pool.call("drain", {"final": final, "timeout": args.drain_timeout},
                                 timeout=args.drain_timeout + 60)
    cpu = _cpu_used(ctx.pids, before, ctx.redis_pid)
    nodes_after = await scrape_all(ctx.session, ctx.targets)
    metrics_after = sum_samples(nodes_after)
    keys = ("sent", "skipped", "acked", "delivered", "expected", "lost", "duplicates", "closed", "open")
    step: dict[str, Any] = {"rate": rate, "duration_s": args.duration}
    step.update({k: sum(d[k] for d in drains) for k in keys})
    step["unacked"] = sum(r["unacked"] for r in runs)
    step["errors"] = dict(sum((_counter(d["errors"]) for d in drains), _counter({})))
    step["close_codes"] = dict(sum((_counter(d["close_codes"]) for d in drains), _counter({})))
    last_rx = max(d["last_rx_us"] for d in drains) / 1e6
    last_ack = max(d["last_ack_us"] for d in drains) / 1e6
    rx_window = max(args.duration, last_rx - start_at)
    ack_window = max(args.duration, last_ack - start_at)
    step["delivered_per_s"] = round(step["delivered"] / rx_window, 1)
    step["acked_per_s"] = round(step["acked"] / ack_window, 1)
    step["latency_ms"] = percentiles(merge(*(d["lat"] for d in drains)))
    step["ack_latency_ms"] = percentiles(merge(*(d["ack"] for d in drains)))
    step["server_histograms"] = {  # as the server measures them: receive to ack (store included), fan-out
        "ack_latency_ms": histogram_delta(metrics_before, metrics_after, "rtserver_ack_latency_seconds"),
        "fanout_latency_ms": histogram_delta(metrics_before, metrics_after, "rtserver_fanout_latency_seconds")}
    step.update(cpu)
    step["loadgen_cpu_s"] = round(sum(d["cpu_s"] for d in drains), 3)
    server_cpu = cpu["server_cpu_s"]
    step["server_us_per_delivery"] = (round(server_cpu * 1e6 / step["delivered"], 2)
                                      if server_cpu is not None and step["delivered"] else None)
    step["server_us_per_message"] = (round(server_cpu * 1e6 / step["acked"], 2)
                                     if server_cpu is not None and step["acked"] else None)
    if len(ctx.targets) > 1:
        step["node_deliveries"] = [int(a.get("rtserver_deliveries_total", 0) - b.get("rtserver_deliveries_total", 0))
                                   for a, b in zip(nodes_after, nodes_before, strict=True)]
        step["node_us_per_delivery"] = [None if cpu_s is None or not n else round(cpu_s * 1e6 / n, 2)
                                        for cpu_s, n in zip(cpu["node_cpu_s"], step["node_deliveries"], strict=True)]
    redis_cpu = cpu.get("redis_cpu_s")
    if redis_cpu is not None:
        step["redis_us_per_message"] = round(redis_cpu * 1e6 / step["acked"], 2) if step["acked"] else None
        step["redis_us_per_delivery"] = round(redis_cpu * 1e6 / step["delivered"], 3) if step["delivered"] else None
        if server_cpu is not None and step["delivered"]:
            step["servers_and_redis_us_per_delivery"] = round((server_cpu + redis_cpu) * 1e6 / step["delivered"], 2)
    return step


def _counter(d: dict[str, int]) -> collections.Counter[str]:
    return collections.Counter(d)


def _judge(step: dict[str, Any], latency_key: str, limit_ms: float, target_sent: float) -> None:
    reasons = []
    if step["lost"] or step["delivered"] != step["expected"]:
        reasons.append(f"lost {step['lost']} of {step['expected']} deliveries")
    if step["duplicates"]:
        reasons.append(f"{step['duplicates']} duplicates or out of order")
    if step["closed"]:
        reasons.append(f"{step['closed']} connections closed {step['close_codes']}")
    if step["unacked"] or step["errors"]:
        reasons.append(f"{step['unacked']} unacked, errors {step['errors']}")
    if step["sent"] < 0.95 * target_sent:
        reasons.append(f"sent only {step['sent']} of {target_sent:.0f} (load generator or back-pressure)")
    p99 = step[latency_key]["p99"]
    if p99 is None or p99 > limit_ms:
        reasons.append(f"{latency_key} p99 {p99} ms > {limit_ms:g} ms")
    step["pass"] = not reasons
    step["fail_reasons"] = reasons


def _step_line(step: dict[str, Any]) -> str:
    lat, ack = step["latency_ms"], step["ack_latency_ms"]
    return (f"rate {step['rate']:g}/s: {'PASS' if step['pass'] else 'FAIL'} sent {step['sent']} "
            f"acked {step['acked_per_s']:,.0f}/s (p50 {ack['p50']} p99 {ack['p99']} ms) "
            f"delivered {step['delivered_per_s']:,.0f}/s (p50 {lat['p50']} p99 {lat['p99']} ms) "
            f"lost {step['lost']} server cpu {step.get('server_cpu_pct')}% "
            + (f"(nodes {step['node_cpu_pct']}) " if step.get("node_cpu_pct") else "")
            + f"{step['server_us_per_delivery']} us/delivery"
            + (f" redis cpu {step['redis_cpu_pct']}%" if step.get("redis_cpu_pct") is not None else "")
            + f" machine {step.get('machine_busy_pct')}%"
            + ("" if step["pass"] else f" -- {'; '.join(step['fail_reasons'])}"))


def parse_rates(text: str) -> list[float]:
    """``60``, ``20,40,60`` or ``START:STOP:STEP`` (inclusive)."""
    if ":" in text:
        start, stop, step = (float(x) for x in text.split(":"))
        if step <= 0 or stop < start:
            raise ValueError("rate range START:STOP:STEP needs STEP > 0 and STOP >= START")
        count = int((stop - start) / step + 1e-9) + 1
        if count > 100:
            raise ValueError("at most 100 rate steps")
        return [start + i * step for i in range(count)]
    rates = [float(x) for x in text.split(",") if x.strip()]
    if not rates or any(r <= 0 for r in rates):
        raise ValueError("rates must be positive numbers")
    return rates


async def _sweep(ctx: Context, run_one: Callable[[float], Awaitable[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Run the listed rates, or with ``--find-max`` grow then bisect to the highest passing rate."""
    args = ctx.args
    rates = parse_rates(args.rate)
    steps: list[dict[str, Any]] = []

    async def run(rate: float) -> dict[str, Any]:
        if steps:
            await asyncio.sleep(args.pause)
        step = await run_one(rate)
        steps.append(step)
        ctx.notes(_step_line(step))
        return step

    if not args.find_max:
        for rate in rates:
            step = await run(rate)
            if step["closed"] or (not step["pass"] and not args.keep_going):
                break
        return steps
    lo: float | None = None
    hi: float | None = None
    rate = rates[0]
    tried: set[float] = set()
    for _ in range(args.max_steps):
        tried.add(rate)
        step = await run(rate)
        if step["closed"]:
            break  # connections were cut off: later steps would measure a different setup
        if step["pass"]:
            lo = rate
        else:
            hi = rate
        if hi is None:
            rate = rate * args.growth
        elif lo is None:
            rate = rate / args.growth
        elif hi - lo <= args.precision * lo:
            break
        else:
            rate = (lo + hi) / 2
        rate = float(max(1, round(rate)))
        if rate in tried:
            break
    return steps


_CPU_KEYS = ("server_us_per_delivery", "server_us_per_message", "server_cpu_pct", "node_cpu_pct",
             "node_deliveries", "node_us_per_delivery", "redis_cpu_pct", "redis_us_per_message",
             "redis_us_per_delivery", "servers_and_redis_us_per_delivery", "machine_busy_pct")


def _cpu_result(step: dict[str, Any]) -> dict[str, Any]:
    return {k: step[k] for k in _CPU_KEYS if k in step}


def _best(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    passing = [s for s in steps if s["pass"]]
    return max(passing, key=lambda s: s["rate"]) if passing else None


def _spread(specs: list[Spec], workers: int) -> list[list[Spec]]:
    return [specs[w::workers] for w in range(workers)]


def _shares(per_worker: list[list[Spec]]) -> list[float]:
    counts = [sum(1 for spec in specs if spec[3]) for specs in per_worker]
    total = sum(counts) or 1
    return [c / total for c in counts]


# -- scenarios -------------------------------------------------------------------------------
async def room(ctx: Context) -> dict[str, Any]:
    args = ctx.args
    if not 1 <= args.senders <= args.members:
        raise ValueError("--senders must be between 1 and --members")
    room_id = f"lt-{ctx.run_id}-room"
    sender_role = "host" if args.kind == "broadcast" else "member"
    users = [f"lt-{ctx.run_id}-u{i}" for i in range(args.members)]
    members = [{"user": u, "role": sender_role if i < args.senders else "member"} for i, u in enumerate(users)]
    await create_rooms(ctx.session, ctx.target, [{"id": room_id, "kind": args.kind, "members": members}])
    specs = [(u, "jobseeker", room_id, i < args.senders) for i, u in enumerate(users)]
    per_worker = _spread(specs, args.workers)
    connections = await _connect(ctx, per_worker, "room")
    if connections["failed"]:
        raise RuntimeError(f"{connections['failed']} connections failed: {connections['errors']}")
    shares = _shares(per_worker)
    limit = args.p99_limit_ms if args.p99_limit_ms is not None else 150.0

    async def run_one(rate: float) -> dict[str, Any]:
        step = await _step(ctx, rate, shares)
        step["target_deliveries_per_s"] = rate * args.members
        _judge(step, "latency_ms", limit, rate * args.duration)
        return step

    steps = await _sweep(ctx, run_one)
    best = _best(steps)
    return {
        "params": {"members": args.members, "senders": args.senders, "kind": args.kind, "rate": args.rate,
                   "duration_s": args.duration, "find_max": args.find_max, "p99_limit_ms": limit,
                   "nodes": len(ctx.targets)},
        "connections": {k: v for k, v in connections.items() if k != "heads"},
        "steps": steps,
        "result": None if best is None else {
            "max_rate": best["rate"], "delivered_per_s": best["delivered_per_s"],
            "latency_ms": best["latency_ms"], "ack_latency_ms": best["ack_latency_ms"],
            **_cpu_result(best)},
    }


async def one2one(ctx: Context) -> dict[str, Any]:
    args = ctx.args
    rooms, specs = [], []
    for i in range(args.conversations):
        room_id = f"lt-{ctx.run_id}-c{i}"
        advisor, jobseeker = f"lt-{ctx.run_id}-a{i}", f"lt-{ctx.run_id}-j{i}"
        rooms.append({"id": room_id, "kind": "conversation",
                      "members": [{"user": advisor, "role": "member"}, {"user": jobseeker, "role": "member"}]})
        specs += [(advisor, "advisor", room_id, True), (jobseeker, "jobseeker", room_id, True)]
    started = time.monotonic()
    await create_rooms(ctx.session, ctx.target, rooms)
    rooms_s = round(time.monotonic() - started, 2)
    # Both sides of a conversation go to the same worker, in contiguous blocks.
    per_worker = [specs[2 * (w * args.conversations // args.workers):2 * ((w + 1) * args.conversations //
                                                                          args.workers)]
                  for w in range(args.workers)]
    connections = await _connect(ctx, per_worker, "one2one", pairs=True)
    if connections["failed"]:
        raise RuntimeError(f"{connections['failed']} connections failed: {connections['errors']}")
    shares = _shares(per_worker)
    limit = args.p99_limit_ms if args.p99_limit_ms is not None else 50.0

    async def run_one(rate: float) -> dict[str, Any]:
        step = await _step(ctx, rate, shares)
        _judge(step, "ack_latency_ms", limit, rate * args.duration)
        return step

    steps = await _sweep(ctx, run_one)
    best = _best(steps)
    return {
        "params": {"conversations": args.conversations, "rate": args.rate, "duration_s": args.duration,
                   "find_max": args.find_max, "p99_limit_ms": limit, "rooms_created_s": rooms_s,
                   "nodes": len(ctx.targets)},
        "connections": {k: v for k, v in connections.items() if k != "heads"},
        "steps": steps,
        "result": None if best is None else {
            "max_rate": best["rate"], "acked_per_s": best["acked_per_s"], "ack_latency_ms": best["ack_latency_ms"],
            "delivered_per_s": best["delivered_per_s"], "latency_ms": best["latency_ms"],
            **_cpu_result(best)},
    }


async def idle(ctx: Context) -> dict[str, Any]:
    args = ctx.args
    n = args.connections
    rooms, specs = [], []
    for i in range(0, n, 2):
        room_id = f"lt-{ctx.run_id}-i{i // 2}"
        users = [f"lt-{ctx.run_id}-u{j}" for j in range(i, min(i + 2, n))]
        rooms.append({"id": room_id, "kind": "conversation", "members": [{"user": u} for u in users]})
        specs += [(u, "jobseeker", room_id, False) for u in users]
    await create_rooms(ctx.session, ctx.target, rooms)
    pid = ctx.target.pid
    await asyncio.sleep(args.settle)
    before = memory(pid) if pid else None
    cpu_before = _cpu_snapshot([pid])
    per_worker = [specs[2 * (w * len(rooms) // args.workers):2 * ((w + 1) * len(rooms) // args.workers)]
                  for w in range(args.workers)]
    connections = await _connect(ctx, per_worker, "idle")
    connect_cpu = _cpu_used([pid], cpu_before)
    await asyncio.sleep(args.settle)
    after = memory(pid) if pid else None
    await asyncio.sleep(args.hold)
    statuses = await ctx.pool.call("status", {}, timeout=30)
    still_open = sum(s["open"] for s in statuses)
    after_hold = memory(pid) if pid else None
    connected = connections["connected"]
    per_conn = None
    if before and after and connected:
        per_conn = {k.replace("_kib", "_kib_per_connection"): round((after[k] - before[k]) / connected, 2)
                    for k in before if k in after}
    ctx.notes(f"idle: {connected} connected, {still_open} still open after {args.hold:g} s; "
              f"memory before {before} after {after} -> per connection {per_conn}")
    return {
        "params": {"connections": n, "rooms": len(rooms), "settle_s": args.settle, "hold_s": args.hold},
        "connections": {k: v for k, v in connections.items() if k != "heads"},
        "still_open": still_open,
        "memory_before": before, "memory_after": after, "memory_after_hold": after_hold,
        "connect_cpu": connect_cpu,
        "result": {"connected": connected, "still_open": still_open, "per_connection": per_conn,
                   "server_cpu_us_per_connect": (round(connect_cpu["server_cpu_s"] * 1e6 / connected, 1)
                                                 if connect_cpu["server_cpu_s"] is not None and connected else None)},
        "steps": [],
    }


SCENARIOS: dict[str, Callable[[Context], Awaitable[dict[str, Any]]]] = {
    "room": room, "one2one": one2one, "idle": idle,
}
