"""The server under test: local ``rtserver serve`` subprocesses, or nodes already running.

A local server listens on 127.0.0.1 with a free port, a temporary SQLite file, a random secret
and API key, and rate limits high enough that the benchmark, not the limiter, sets the pace.
With several nodes, the benchmark also starts a ``redis-server`` (127.0.0.1, free port, its own
temporary directory) and every node gets the same Redis store URL, secret and API key.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

__all__ = ["LocalRedis", "LocalServer", "Target", "create_rooms", "histogram_delta", "scrape_all", "scrape_metrics",
           "sum_samples", "wait_ready"]

GENEROUS_LIMITS = {
    "RTSERVER_MAX_MESSAGES_PER_S": "100000",
    "RTSERVER_BURST_MESSAGES": "100000",
    "RTSERVER_MAX_VIOLATIONS": "1000000",
    "RTSERVER_MAX_CONNECTIONS": "100000",
    "RTSERVER_MAX_CONNECTIONS_PER_USER": "1000",
    "RTSERVER_MAX_ROOM_MEMBERS": "100000",
    "RTSERVER_LOG_LEVEL": "warning",
}


@dataclasses.dataclass
class Target:
    """Where the server is and what the benchmark needs to talk to it."""

    url: str  # http://127.0.0.1:PORT
    secret: str
    api_key: str
    pid: int | None = None  # for CPU and memory readings; None when unknown

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        netloc = self.url.split("://", 1)[1].split("/", 1)[0]
        return int(netloc.rsplit(":", 1)[1]) if ":" in netloc else 80


def _die_with_parent() -> None:
    """In the child before exec: if the benchmark process is killed, the server gets SIGTERM (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _ManagedProcess:
    """A child process with its own temporary folder and log: stopped with SIGTERM, then killed."""

    dir: Path
    log_path: Path
    proc: subprocess.Popen[bytes] | None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 20.0) -> int | None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        code = None if self.proc is None else self.proc.returncode
        shutil.rmtree(self.dir, ignore_errors=True)
        return code


class LocalServer(_ManagedProcess):
    def __init__(self, extra_env: dict[str, str] | None = None, data_dir: str | None = None, *,
                 store: str | None = None, secret: str | None = None, api_key: str | None = None):
        self.dir = Path(tempfile.mkdtemp(prefix="loadtest-", dir=data_dir))
        self.port = _free_port()
        self.env = {
            **os.environ, **GENEROUS_LIMITS,
            "RTSERVER_HOST": "127.0.0.1", "RTSERVER_PORT": str(self.port),
            "RTSERVER_STORE": store or f"sqlite:{self.dir / 'rt.db'}",
            "RTSERVER_SECRET": secret or secrets.token_urlsafe(32),
            "RTSERVER_SECRET_FILE": str(self.dir / "unused.secret"),
            "RTSERVER_API_KEY": api_key or secrets.token_urlsafe(16),
            **(extra_env or {}),
        }
        self.env["RTSERVER_HOST"] = "127.0.0.1"  # never listen beyond this machine
        self.env["RTSERVER_PORT"] = str(self.port)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.dir / "server.log"

    @property
    def target(self) -> Target:
        assert self.proc is not None
        return Target(f"http://127.0.0.1:{self.port}", self.env["RTSERVER_SECRET"], self.env["RTSERVER_API_KEY"],
                      self.proc.pid)

    def settings(self) -> dict[str, str]:
        """The server's RTSERVER_* settings, secrets left out, for the report."""
        hidden = {"RTSERVER_SECRET", "RTSERVER_API_KEY"}
        return {k: v for k, v in sorted(self.env.items()) if k.startswith("RTSERVER_") and k not in hidden}

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "rtserver", "serve"], env=self.env,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=_die_with_parent)

def _ping(port: int, timeout_s: float = 0.5) -> bytes:
    """One raw PING: what Redis answers (``+PONG``, ``-LOADING ...``), or b"" if nothing listens."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as s:
            s.sendall(b"PING\r\n")
            return s.recv(256)
    except OSError:
        return b""


class LocalRedis(_ManagedProcess):
    """A ``redis-server`` for a multi-node run: 127.0.0.1, a free port, a temporary directory.

    No persistence by default (``--save '' --appendonly no``); ``aof=True`` runs it as the docs
    recommend for production (``--appendonly yes --appendfsync everysec``), so the measurement
    includes the append-only file's writes.
    """

    START_TIMEOUT_S = 10.0

    def __init__(self, data_dir: str | None = None, *, aof: bool = False):
        self.dir = Path(tempfile.mkdtemp(prefix="loadtest-redis-", dir=data_dir))
        self.port = _free_port()
        self.aof = aof
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.dir / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def settings(self) -> dict[str, Any]:
        return {"url": self.url, "pid": self.pid, "appendonly": "yes" if self.aof else "no",
                "appendfsync": "everysec" if self.aof else None}

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("--nodes > 1 needs redis-server on PATH")
        args = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
                "--daemonize", "no", "--protected-mode", "yes", "--save", "", "--logfile", str(self.log_path),
                "--maxmemory-policy", "noeviction"]
        args += ["--appendonly", "yes", "--appendfsync", "everysec"] if self.aof else ["--appendonly", "no"]
        self.proc = subprocess.Popen(args, cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + self.START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited during start-up: {self.log_tail()}")
            if _ping(self.port).startswith(b"+PONG"):
                return
            time.sleep(0.02)
        raise RuntimeError(f"redis-server on port {self.port} not ready in {self.START_TIMEOUT_S:g} s")



async def wait_ready(session: aiohttp.ClientSession, target: Target, proc: subprocess.Popen[bytes] | None,
                     timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited during start-up (code {proc.returncode})")
        with contextlib.suppress(aiohttp.ClientError, OSError):
            async with session.get(target.url + "/readyz") as resp:
                if resp.status == 200:
                    return
        await asyncio.sleep(0.05)
    raise RuntimeError(f"server at {target.url} not ready after {timeout:.0f} s")


async def create_rooms(session: aiohttp.ClientSession, target: Target, rooms: list[dict[str, Any]],
                       concurrency: int = 32, chunk: int = 10_000) -> None:
    """Create rooms (``{id, kind, members: [{user, role}]}``); members beyond ``chunk`` are added after."""
    headers = {"X-Api-Key": target.api_key}
    semaphore = asyncio.Semaphore(concurrency)

    async def post(path: str, body: dict[str, Any], expected: int) -> None:
        async with semaphore, session.post(target.url + path, json=body, headers=headers) as resp:
            if resp.status != expected:
                raise RuntimeError(f"POST {path}: HTTP {resp.status}: {(await resp.text())[:300]}")

    async def create(room: dict[str, Any]) -> None:
        members = room["members"]
        await post("/api/rooms", {**room, "members": members[:chunk]}, 201)
        for i in range(chunk, len(members), chunk):
            await post(f"/api/rooms/{room['id']}/members", {"members": members[i:i + chunk]}, 200)

    await asyncio.gather(*(create(room) for room in rooms))


async def scrape_all(session: aiohttp.ClientSession, targets: list[Target]) -> list[dict[str, float]]:
    """``scrape_metrics`` of every node, in order."""
    return list(await asyncio.gather(*(scrape_metrics(session, t) for t in targets)))


def sum_samples(samples: list[dict[str, float]]) -> dict[str, float]:
    """Several nodes' samples added up (counters and histogram buckets of the whole cluster)."""
    total: dict[str, float] = {}
    for node in samples:
        for key, value in node.items():
            total[key] = total.get(key, 0.0) + value
    return total


async def scrape_metrics(session: aiohttp.ClientSession, target: Target) -> dict[str, float]:
    """The server's Prometheus samples (``name{labels}`` -> value); empty when /metrics is unavailable."""
    try:
        async with session.get(target.url + "/metrics", timeout=aiohttp.ClientTimeout(total=10)) as resp:
            if resp.status != 200:
                return {}
            text = await resp.text()
    except (aiohttp.ClientError, OSError, TimeoutError):
        return {}
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            with contextlib.suppress(ValueError):
                samples[name] = float(value)
    return samples


def histogram_delta(before: dict[str, float], after: dict[str, float], name: str) -> dict[str, Any] | None:
    """A server histogram over one step: count, and p50/p99 as the upper bound of their bucket, in ms."""
    prefix = name + '_bucket{le="'
    buckets = sorted((float(key[len(prefix):-2]), after[key] - before.get(key, 0.0))
                     for key in after if key.startswith(prefix))
    if not buckets:
        return None
    count = buckets[-1][1]
    result: dict[str, Any] = {"count": int(count)}
    for point in (50, 99):
        bound = next((le for le, cum in buckets if cum >= count * point / 100), None) if count else None
        result[f"p{point}_le"] = None if bound is None else (bound * 1000 if bound != float("inf") else "inf")
    return result
