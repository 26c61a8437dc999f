"""Real ``redis-server`` processes for the tests: one server, or a three-master cluster, on free ports.

Each server runs in its own directory under the test's ``tmp_path``, bound to 127.0.0.1, and is
stopped by the test that started it. ``stop()`` is a clean shutdown (SIGTERM: Redis writes and
fsyncs its append-only file before exiting); ``kill()`` is a crash (SIGKILL). ``start()`` again
reuses the same port and directory, so a restart with ``appendonly`` reloads the same data.
"""

from __future__ import annotations

import ctypes
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

__all__ = ["RedisCluster", "RedisServer", "die_with_parent", "free_port", "redis_available"]

START_TIMEOUT_S = 10.0


def redis_available() -> bool:
    return shutil.which("redis-server") is not None and shutil.which("redis-cli") is not None


def die_with_parent() -> None:
    """``preexec_fn`` for test servers: the kernel kills them if the test process dies first."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:  # not Linux: the tests' own clean-up has to do
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ping(port: int, timeout_s: float = 0.5) -> bytes:
    """One raw PING: what the server answers (``+PONG``, ``-LOADING ...``), or b"" if it is not there."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as s:
            s.sendall(b"PING\r\n")
            return s.recv(256)
    except OSError:
        return b""


class RedisServer:
    def __init__(self, workdir: Path, *, appendonly: bool = False, cluster: bool = False):
        self.port = free_port()
        self.bus_port = free_port() if cluster else None
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.appendonly = appendonly
        self.cluster = cluster
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _args(self) -> list[str]:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
                "--save", "", "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "everysec",
                "--daemonize", "no", "--protected-mode", "no", "--logfile", "redis.log"]
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                     "--cluster-port", str(self.bus_port), "--cluster-node-timeout", "2000",
                     "--repl-diskless-sync-delay", "0"]
        return args

    def start(self) -> None:
        self.proc = subprocess.Popen(self._args(), cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     preexec_fn=die_with_parent)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"redis-server exited: {self.log_tail()}")
            if _ping(self.port).startswith(b"+PONG"):
                return
            time.sleep(0.02)
        self.kill()
        raise AssertionError(f"redis-server on port {self.port} not ready in {START_TIMEOUT_S} s")

    def stop(self) -> None:
        """Clean shutdown: Redis flushes and fsyncs its append-only file before it exits."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def _signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=20)
        self.proc = None

    def cli(self, *args: str) -> str:
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], check=True, capture_output=True,
                              text=True, timeout=20).stdout

    def log_tail(self) -> str:
        log = self.dir / "redis.log"
        return log.read_text()[-2000:] if log.exists() else "(no log)"


class RedisCluster:
    """Three masters (and ``replicas`` replicas of each): ``redis-cli --cluster create`` assigns the
    16384 slots among the masters."""

    def __init__(self, workdir: Path, *, masters: int = 3, replicas: int = 0):
        self.replicas = replicas
        self.servers = [RedisServer(workdir / f"node{i}", cluster=True) for i in range(masters * (1 + replicas))]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{s.port}" for s in self.servers)

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        for server in self.servers:
            server.start()
        subprocess.run(["redis-cli", "--cluster", "create", *(f"127.0.0.1:{s.port}" for s in self.servers),
                        "--cluster-replicas", str(self.replicas), "--cluster-yes"],
                       check=True, capture_output=True, timeout=60)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if all("cluster_state:ok" in s.cli("cluster", "info") for s in self.servers) and all(
                    "role:master" in info or "master_link_status:up" in info
                    for info in (s.cli("info", "replication") for s in self.servers)):
                return
            time.sleep(0.05)
        raise AssertionError("the Redis cluster did not reach cluster_state:ok with its replicas in sync")

    def wait_replicated(self, master: RedisServer) -> None:
        """Until every replica of ``master`` acknowledged all it was sent (WAIT from redis-cli would
        only cover that client's own writes)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            info = dict(line.split(":", 1) for line in master.cli("info", "replication").split() if ":" in line)
            offsets = [int(v.split("offset=")[1].split(",")[0]) for k, v in info.items() if k.startswith("slave")]
            if offsets and all(o == int(info["master_repl_offset"]) for o in offsets):
                return
            time.sleep(0.02)
        raise AssertionError("the replicas did not catch up with their master")

    def stop(self) -> None:
        for server in self.servers:
            server.kill()
