"""The coordinator's side of the workers: spawn them, call commands on all, show progress."""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from .stats import merge, percentiles
from .worker import worker_main

__all__ = ["Progress", "WorkerError", "WorkerPool"]


class WorkerError(RuntimeError):
    pass


class WorkerPool:
    def __init__(self, count: int, config: dict[str, Any]):
        ctx = multiprocessing.get_context("spawn")
        self.count = count
        self.pipes: list[Connection] = []
        self.procs: list[Any] = []
        for index in range(count):
            ours, theirs = ctx.Pipe(duplex=True)
            proc = ctx.Process(target=worker_main, args=(index, theirs, config), name=f"loadtest-worker-{index}",
                               daemon=True)
            proc.start()
            theirs.close()
            self.pipes.append(ours)
            self.procs.append(proc)
        self.stats: list[dict[str, Any]] = [{} for _ in range(count)]
        self._replies: list[asyncio.Queue[dict[str, Any]]] = []

    def start(self) -> None:
        """Read each worker's pipe in a thread (blocking reads; see Worker._read_pipe)."""
        loop = asyncio.get_running_loop()
        self._replies = [asyncio.Queue() for _ in range(self.count)]
        for index in range(self.count):
            threading.Thread(target=self._read_pipe, args=(index, loop), name=f"pipe-{index}", daemon=True).start()

    def _read_pipe(self, index: int, loop: asyncio.AbstractEventLoop) -> None:
        pipe = self.pipes[index]
        while True:
            try:
                msg = pipe.recv()
            except (EOFError, OSError):
                msg = {"kind": "reply", "error": f"worker {index} exited", "eof": True}
            try:
                loop.call_soon_threadsafe(self._deliver, index, msg)
            except RuntimeError:  # the loop is closed
                return
            if msg.get("eof") or msg.get("cmd") == "close":
                return

    def _deliver(self, index: int, msg: dict[str, Any]) -> None:
        if msg["kind"] == "stats":
            self.stats[index] = msg
        else:
            self._replies[index].put_nowait(msg)

    async def call(self, cmd: str, args: list[dict[str, Any]] | dict[str, Any], timeout: float) -> list[dict[str, Any]]:
        """Send ``cmd`` to every worker (one args dict each, or the same for all) and gather the replies."""
        per_worker = args if isinstance(args, list) else [args] * self.count
        for pipe, worker_args in zip(self.pipes, per_worker, strict=True):
            pipe.send({"cmd": cmd, "args": worker_args})
        try:
            replies = await asyncio.wait_for(asyncio.gather(*(q.get() for q in self._replies)), timeout)
        except TimeoutError:
            raise WorkerError(f"workers did not finish {cmd!r} within {timeout:.0f} s") from None
        for index, reply in enumerate(replies):
            if "error" in reply:
                raise WorkerError(f"worker {index} failed in {cmd!r}:\n{reply['error']}")
        return replies

    async def close(self, timeout: float = 15.0) -> None:
        for pipe in self.pipes:
            try:
                pipe.send({"cmd": "close"})
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not any(p.is_alive() for p in self.procs):
                break
            await asyncio.sleep(0.05)
        for index, proc in enumerate(self.procs):
            if proc.is_alive():
                proc.terminate()
            proc.join(timeout=5)
            self.pipes[index].close()

    def terminate(self) -> None:
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()


class Progress:
    """One stderr line, rewritten every second: connections, sends, deliveries, rates, p99 so far."""

    def __init__(self, pool: WorkerPool, label: str, *, enabled: bool = True, expect_connections: int = 0):
        self.pool = pool
        self.label = label
        self.enabled = enabled
        self.expect = expect_connections
        self.tty = sys.stderr.isatty()
        self._task: asyncio.Task[None] | None = None
        self._last: tuple[float, int, int] | None = None
        self.started = time.monotonic()

    def start(self) -> None:
        if self.enabled:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
            if self.tty:
                sys.stderr.write("\n")
                sys.stderr.flush()

    def note(self, text: str) -> None:
        """A line that stays (a step result), printed above the progress line."""
        if self.tty:
            sys.stderr.write("\r\x1b[K")
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            line = self.line()
            if self.tty:
                sys.stderr.write("\r\x1b[K" + line)
            else:
                sys.stderr.write(line + "\n")
            sys.stderr.flush()

    def line(self) -> str:
        stats = [s for s in self.pool.stats if s]
        total = {k: sum(s.get(k, 0) for s in stats) for k in ("connected", "closed", "sent", "acked", "delivered",
                                                                 "errors", "lost")}
        now = time.monotonic()
        rate = ack_rate = 0.0
        if self._last is not None:
            elapsed = max(1e-6, now - self._last[0])
            rate = (total["delivered"] - self._last[1]) / elapsed
            ack_rate = (total["acked"] - self._last[2]) / elapsed
        self._last = (now, total["delivered"], total["acked"])
        lat = percentiles(merge(*(s.get("lat", {}) for s in stats)), (99,))["p99"]
        ack = percentiles(merge(*(s.get("ack", {}) for s in stats)), (99,))["p99"]
        conn = f"{total['connected']}" + (f"/{self.expect}" if self.expect else "")
        return (f"[{self.label} {now - self.started:5.0f}s] conn {conn} closed {total['closed']} | "
                f"sent {total['sent']} acked {total['acked']} ({ack_rate:,.0f}/s, p99 {_ms(ack)}) | "
                f"delivered {total['delivered']} ({rate:,.0f}/s, p99 {_ms(lat)}) | "
                f"lost {total['lost']} err {total['errors']}")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}ms"
