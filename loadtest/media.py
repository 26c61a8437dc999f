"""``python -m loadtest media``: the SFU's cost, latency and loss with N one-to-one interviews.

Each step starts a server on 127.0.0.1 (``rtserver serve`` with media on 127.0.0.1, or the
comparison relay), creates the interviews' rooms over the HTTP API, runs the interviews in
``--workers`` load processes (``media_worker``), waits until media flows, measures one window of
``--duration`` seconds and stops everything. Method and figures: loadtest/README.md, "Media".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import multiprocessing
import secrets
import subprocess
import sys
import tempfile
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp

from .media_clip import Clip, encode_clip
from .media_leak import leak_check
from .media_report import STREAMS_PER_INTERVIEW, judge, step_figures, summary
from .media_worker import worker_main
from .report import default_path, failure_recorded, machine, write
from .server import (
    LocalServer,
    Target,
    _die_with_parent,
    _free_port,
    create_rooms,
    histogram_delta,
    scrape_metrics,
    wait_ready,
)
from .stats import cpu_seconds, system_cpu

__all__ = ["add_parser", "run"]

MAX_INTERVIEWS = 200
MAX_DURATION_S = 300.0
MAX_WORKERS = 8
MAX_STEPS = 20
MAX_LEAK_CYCLES = 1000
SERVER_STOP_S = 20.0


def add_parser(commands: Any) -> None:
    p = commands.add_parser("media", help="media forwarding benchmark (SFU)", description=__doc__.splitlines()[0])
    g = p.add_argument_group("load")
    g.add_argument("--interviews", type=int, default=10,
                   help="one-to-one interviews (2 participants, 4 forwarded streams each; default 10; 0: none)")
    g.add_argument("--duration", type=float, default=20.0, help="seconds measured per step (default 20)")
    g.add_argument("--workers", type=int, default=1, help="load processes, whole interviews each (default 1)")
    g.add_argument("--settle", type=float, default=2.0, help="seconds between media flowing and the window (2)")
    g.add_argument("--setup-concurrency", type=int, default=8, help="interviews set up at once per worker (8)")
    g.add_argument("--ready-timeout", type=float, default=30.0,
                   help="seconds for every participant to receive media after set-up (30)")
    g.add_argument("--transport-cc", action="store_true",
                   help="publishers number their packets and offer transport-cc, as browsers do: the server "
                        "answers every packet with transport-wide feedback (its cost is then in the figures)")
    s = g.add_argument_group("search and pass rule")
    s.add_argument("--find-max", action="store_true",
                   help="from --interviews, add --step per step until one fails; report the largest passing")
    s.add_argument("--step", type=int, default=5, help="interviews added per --find-max step (default 5)")
    s.add_argument("--max-interviews", type=int, default=100, help=f"--find-max stops here (<= {MAX_INTERVIEWS})")
    s.add_argument("--max-steps", type=int, default=10, help=f"--find-max steps at most (<= {MAX_STEPS})")
    s.add_argument("--max-loss", type=float, default=0.01, help="a step passes below this loss (0.01 = 1 %%)")
    s.add_argument("--rate-tolerance", type=float, default=0.05,
                   help="every stream at least (1 - this) x its sent rate: 30 fps, 50 audio packets/s (0.05)")
    c = p.add_argument_group("comparison and leak check")
    c.add_argument("--compare-relay", action="store_true",
                   help="also run the load against aiortc's decode/re-encode relay (loadtest/relay_server.py)")
    c.add_argument("--relay-interviews", type=int, help="interviews for the relay run (default: --interviews)")
    c.add_argument("--leak-cycles", type=int, default=0,
                   help="then run this many join/leave cycles and compare the server before and after (0: none)")
    c.add_argument("--leak-warmup", type=int, default=5, help="cycles before the 'before' reading (default 5)")
    c.add_argument("--leak-rss-slack-kib", type=int, default=2048,
                   help="RSS growth allowed over the second half of the cycles (default 2048 KiB)")
    o = p.add_argument_group("output and server")
    o.add_argument("--report", type=Path, help="JSON report (default loadtest/reports/media-TIME.json)")
    o.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    o.add_argument("--time-limit", type=float, default=1800.0, help="no new step after this many seconds (1800)")
    o.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                   help="extra environment for the rtserver started, e.g. RTSERVER_LOG_LEVEL=info")


def check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not 0 <= args.interviews <= MAX_INTERVIEWS:
        parser.error(f"--interviews must be 0..{MAX_INTERVIEWS}")
    if not 0 < args.duration <= MAX_DURATION_S:
        parser.error(f"--duration must be in (0, {MAX_DURATION_S:g}]")
    if not 1 <= args.workers <= MAX_WORKERS:
        parser.error(f"--workers must be 1..{MAX_WORKERS}")
    if args.find_max and (args.interviews < 1 or args.step < 1):
        parser.error("--find-max needs --interviews >= 1 and --step >= 1")
    if not 1 <= args.max_interviews <= MAX_INTERVIEWS or not 1 <= args.max_steps <= MAX_STEPS:
        parser.error(f"--max-interviews must be 1..{MAX_INTERVIEWS}, --max-steps 1..{MAX_STEPS}")
    if args.relay_interviews is not None and not 1 <= args.relay_interviews <= MAX_INTERVIEWS:
        parser.error(f"--relay-interviews must be 1..{MAX_INTERVIEWS}")
    if args.compare_relay and not (args.relay_interviews or args.interviews):
        parser.error("--compare-relay needs --interviews or --relay-interviews")
    if not 0 <= args.leak_cycles <= MAX_LEAK_CYCLES or args.leak_warmup < 0:
        parser.error(f"--leak-cycles must be 0..{MAX_LEAK_CYCLES}")
    if not 0 < args.max_loss < 1 or not 0 <= args.rate_tolerance < 1:
        parser.error("--max-loss must be in (0, 1), --rate-tolerance in [0, 1)")
    if not (args.interviews or args.compare_relay or args.leak_cycles):
        parser.error("nothing to do: --interviews 0 without --compare-relay or --leak-cycles")
    for item in args.server_env:
        if "=" not in item:
            parser.error(f"--server-env {item!r}: expected NAME=VALUE")


class RelayProcess:
    """``python -m loadtest.relay_server`` on 127.0.0.1 and a free port, stopped with SIGTERM."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, "-m", "loadtest.relay_server", "--port", str(self.port)],
                                     cwd=Path(__file__).resolve().parent.parent, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)

    async def wait_ready(self, session: aiohttp.ClientSession, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"relay_server exited (code {self.proc.returncode}): {self.log_tail()}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(self.url + "/healthz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.05)
        raise RuntimeError("relay_server not ready")

    def log_tail(self) -> str:
        self.log.seek(0)
        return "\n".join(self.log.read().decode(errors="replace").splitlines()[-20:])

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(SERVER_STOP_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


@dataclasses.dataclass
class _Workers:
    """The load processes of one step and their pipes."""

    procs: list[Any]
    pipes: list[Connection]

    @classmethod
    def spawn(cls, configs: list[dict[str, Any]]) -> _Workers:
        ctx = multiprocessing.get_context("spawn")
        procs, pipes = [], []
        for index, config in enumerate(configs):
            ours, theirs = ctx.Pipe(duplex=True)
            proc = ctx.Process(target=worker_main, args=(theirs, config), name=f"media-worker-{index}", daemon=True)
            proc.start()
            theirs.close()
            procs.append(proc)
            pipes.append(ours)
        return cls(procs, pipes)

    async def gather(self, kind: str, timeout: float) -> list[dict[str, Any]]:
        """The next message of every worker, which must be ``kind``."""
        def recv(pipe: Connection) -> dict[str, Any]:
            if not pipe.poll(timeout):
                raise RuntimeError(f"a load process sent no {kind!r} within {timeout:.0f} s")
            try:
                message: dict[str, Any] = pipe.recv()
            except EOFError:
                raise RuntimeError("a load process exited") from None
            if message["kind"] == "error":
                raise RuntimeError(f"a load process failed:\n{message['error']}")
            if message["kind"] != kind:
                raise RuntimeError(f"a load process sent {message['kind']!r} instead of {kind!r}")
            return message

        return list(await asyncio.gather(*(asyncio.to_thread(recv, pipe) for pipe in self.pipes)))

    def send(self, message: dict[str, Any]) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError):
                pipe.send(message)

    def stop(self) -> None:
        for proc in self.procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
        for pipe in self.pipes:
            pipe.close()


class _Run:
    def __init__(self, args: argparse.Namespace, session: aiohttp.ClientSession, clip: Clip):
        self.args = args
        self.session = session
        self.clip = clip
        self.run_id = secrets.token_hex(3)
        self.extra_env = {"RTSERVER_MEDIA_LISTEN_ADDRESS": "127.0.0.1",
                          **dict(item.split("=", 1) for item in args.server_env)}

    def note(self, text: str) -> None:
        if not self.args.quiet:
            print(text, file=sys.stderr, flush=True)

    async def step(self, path: str, interviews: int) -> dict[str, Any]:
        """Start the server, run ``interviews`` through it for one window, stop it; the step's figures."""
        args = self.args
        self.note(f"[media] {path}: {interviews} interviews, setting up")
        server: LocalServer | None = None
        relay: RelayProcess | None = None
        workers: _Workers | None = None
        step: dict[str, Any] = {"path": path, "interviews": interviews}
        try:
            if path == "sfu":
                server = LocalServer(self.extra_env)
                server.start()
                target = server.target
                await wait_ready(self.session, target, server.proc)
                url, secret, pid = target.url, target.secret, target.pid
            else:
                relay = RelayProcess()
                await relay.wait_ready(self.session)
                url, secret, pid = relay.url, "", relay.proc.pid
            assert pid is not None
            specs = [(f"iv-{self.run_id}-{path}{interviews}-{i}", f"adv{i}-{self.run_id}", f"job{i}-{self.run_id}")
                     for i in range(interviews)]
            if server is not None:
                await create_rooms(self.session, server.target, [
                    {"id": room, "kind": "conversation", "members": [{"user": a}, {"user": j}]}
                    for room, a, j in specs])
            count = min(args.workers, interviews)
            config = {"mode": path, "url": url, "secret": secret, "clip": dataclasses.asdict(self.clip),
                      "setup_concurrency": args.setup_concurrency, "setup_timeout_s": 30.0,
                      "ready_timeout_s": args.ready_timeout, "transport_cc": args.transport_cc}
            workers = _Workers.spawn([{**config, "interviews": specs[w::count]} for w in range(count)])
            ready = await workers.gather("ready", timeout=120 + 3 * interviews + args.ready_timeout)
            step["setup_s"] = max(r["setup_s"] for r in ready)
            step["not_ready"] = sum(r["peers"] - r["ready"] for r in ready)
            step["errors"] = [e for r in ready for e in r["errors"]][:20]
            await asyncio.sleep(args.settle)
            step.update(await self._window(workers, pid, server.target if server else None))
            workers.send({"cmd": "close"})
            await workers.gather("closed", timeout=60)
        except Exception as exc:
            step["error"] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        finally:
            if workers is not None:
                workers.send({"cmd": "close"})
                await asyncio.to_thread(workers.stop)
            if server is not None:
                if step.get("error"):
                    step["server_log_tail"] = server.log_tail()
                step["server_exit_code"] = server.stop()
            if relay is not None:
                if step.get("error"):
                    step["server_log_tail"] = relay.log_tail()
                step["server_exit_code"] = relay.stop()
        if "error" not in step:
            judge(step, max_loss=args.max_loss, rate_tolerance=args.rate_tolerance)
        else:
            step.update({"pass": False, "fail_reasons": [step["error"]]})
        self.note(f"[media] {path}: {interviews} interviews: {'PASS' if step['pass'] else 'FAIL'}"
                  + ("" if step["pass"] else f" ({'; '.join(step['fail_reasons'])})"))
        return step

    async def _window(self, workers: _Workers, pid: int, target: Target | None) -> dict[str, Any]:
        duration = self.args.duration
        start = time.time() + 0.5
        end = start + duration
        workers.send({"cmd": "measure", "start": start, "end": end})
        await asyncio.sleep(start - time.time())
        cpu0, machine0 = cpu_seconds(pid), system_cpu()
        metrics0 = await scrape_metrics(self.session, target) if target else {}
        await asyncio.sleep(end - time.time())
        cpu1, machine1 = cpu_seconds(pid), system_cpu()
        metrics1 = await scrape_metrics(self.session, target) if target else {}
        results = await workers.gather("result", timeout=duration + 60)
        interviews = sum(len(r["streams"]) for r in results) // STREAMS_PER_INTERVIEW
        out: dict[str, Any] = {"duration_s": duration}
        if cpu0 is None or cpu1 is None:
            raise RuntimeError("the server's CPU time could not be read")
        core = (cpu1 - cpu0) / duration
        out.update(server_cpu_s=round(cpu1 - cpu0, 3), server_core=round(core, 4),
                   cpu_per_interview_pct=round(100 * core / max(1, interviews), 3),
                   cpu_per_stream_pct=round(100 * core / max(1, interviews * STREAMS_PER_INTERVIEW), 3))
        if target is not None:
            forwarded = sum(metrics1.get(f'rtserver_media_forwarded_packets_total{{kind="{k}"}}', 0.0)
                            - metrics0.get(f'rtserver_media_forwarded_packets_total{{kind="{k}"}}', 0.0)
                            for k in ("audio", "video"))
            out["forwarded_packets"] = int(forwarded)
            # The server's event-loop lag over the window: the part of the latency the server adds
            # by being busy (forwarding one packet itself takes well under a millisecond).
            out["server_loop_lag_ms"] = histogram_delta(metrics0, metrics1, "rtserver_event_loop_lag_seconds")
            out["us_per_forwarded_packet"] = round((cpu1 - cpu0) * 1e6 / forwarded, 1) if forwarded else None
        loadgen = [r["cpu_s"] for r in results if r["cpu_s"] is not None]
        out["loadgen_cpu_s"] = round(sum(loadgen), 3)
        out["loadgen_core"] = round(sum(loadgen) / duration, 3)
        if machine0 and machine1:
            out["machine_busy_pct"] = round(100 * (machine1[0] - machine0[0]) / max(1.0, machine1[1] - machine0[1]), 1)
        streams = [s for r in results for s in r["streams"]]
        out.update(step_figures(streams, fps=self.clip.fps))
        out["errors"] = [e for r in results for e in r["errors"]][:20]
        out["per_stream"] = [{k: v for k, v in s.items() if k != "latency"} for s in streams]
        return out

    async def find_max(self, started: float) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        args = self.args
        steps: list[dict[str, Any]] = []
        n = args.interviews
        best: dict[str, Any] | None = None
        while n <= args.max_interviews and len(steps) < args.max_steps:
            if time.monotonic() - started > args.time_limit:
                self.note("[media] --time-limit reached: no further step")
                break
            step = await self.step("sfu", n)
            steps.append(step)
            if not step["pass"]:
                break
            best = step
            n += args.step
        result: dict[str, Any] = {"max_interviews": best["interviews"] if best else None}
        if best:
            result.update({k: best[k] for k in ("server_core", "cpu_per_interview_pct", "cpu_per_stream_pct",
                                                "latency_ms", "loss", "video_rate")})
        return steps, result


async def _main(args: argparse.Namespace, report: dict[str, Any]) -> None:
    started = time.monotonic()
    clip = await asyncio.to_thread(encode_clip)
    report["clip"] = clip.describe()
    async with aiohttp.ClientSession() as session:
        run = _Run(args, session, clip)
        steps: list[dict[str, Any]] = report.setdefault("steps", [])
        if args.interviews and args.find_max:
            found, report["result"] = await run.find_max(started)
            steps += found
        elif args.interviews:
            steps.append(await run.step("sfu", args.interviews))
        if args.compare_relay:
            n = args.relay_interviews or args.interviews
            relay = await run.step("relay", n)
            steps.append(relay)
            sfu = next((s for s in steps if s["path"] == "sfu" and s["interviews"] == n and "error" not in s), None)
            if sfu is not None and "error" not in relay:
                report["comparison"] = {
                    "interviews": n, "sfu_cpu_per_stream_pct": sfu["cpu_per_stream_pct"],
                    "relay_cpu_per_stream_pct": relay["cpu_per_stream_pct"],
                    "ratio": round(relay["cpu_per_stream_pct"] / max(1e-9, sfu["cpu_per_stream_pct"]), 1)}
        if args.leak_cycles:
            run.note(f"[media] leak check: {args.leak_cycles} join/leave cycles")
            server = LocalServer(run.extra_env)
            server.start()
            try:
                await wait_ready(session, server.target, server.proc)
                report["leak"] = await leak_check(session, server.target, clip, cycles=args.leak_cycles,
                                                  warmup=args.leak_warmup, run_id=run.run_id,
                                                  rss_slack_kib=args.leak_rss_slack_kib)
            finally:
                code = server.stop()
                if "leak" in report:
                    report["leak"]["server_exit_code"] = code
    failed = [s["error"] for s in report["steps"] if s.get("error")]
    if failed:
        report["error"] = failed[0]


async def run(args: argparse.Namespace) -> int:
    started = datetime.datetime.now()
    t0 = time.monotonic()
    report_path = args.report or default_path("media", started)
    report: dict[str, Any] = {"scenario": "media", "started": started.isoformat(timespec="seconds"),
                              "machine": machine(), "options": {k: v for k, v in vars(args).items() if k != "report"},
                              "report_path": str(report_path), "steps": []}
    with failure_recorded(report):
        await _main(args, report)
    report["duration_s"] = round(time.monotonic() - t0, 2)
    report["options"]["report"] = str(report_path)
    write(report_path, report)
    with contextlib.suppress(BrokenPipeError):
        print(summary(report), flush=True)
    return 1 if report.get("error") else 0
