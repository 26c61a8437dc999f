"""A real coturn (``turnserver``) for a test, with TURN REST authentication (``--use-auth-secret``).

It listens on one address (the server side of a test network), on a free port for UDP and TCP, and
relays from a small port range on the same address; TLS and DTLS are off. rtserver is configured
with ``turn.urls`` as ``--ice-servers`` and ``turn.secret`` as ``--turn-secret``; a test client
computes its own credentials with ``rest_credentials``. ``stop()`` ends it (the fixture's finalizer).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path

from netns import free_port_range
from redis_server import die_with_parent

__all__ = ["REALM", "TurnServer", "rest_credentials", "turnserver_available"]

REALM = "rtserver.test"
START_TIMEOUT_S = 10.0
RELAY_PORTS = 20


def turnserver_available() -> bool:
    return shutil.which("turnserver") is not None


def rest_credentials(secret: str, user: str, ttl_s: float = 3600.0, *, now: float | None = None) -> tuple[str, str]:
    """TURN REST API credentials (draft-uberti-behave-turn-rest, as coturn checks them):
    username ``"<expiry unix time>:<user>"``, password base64(HMAC-SHA1(secret, username))."""
    username = f"{int((time.time() if now is None else now) + ttl_s)}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def _udp_and_tcp_free_port(host: str) -> int:
    """coturn listens on one port number for both UDP and TCP."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp, socket.socket(socket.AF_INET,
                                                                                    socket.SOCK_DGRAM) as udp:
            tcp.bind((host, 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind((host, port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no port free for both UDP and TCP on {host}")


class TurnServer:
    def __init__(self, host: str, workdir: Path):
        self.host = host
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.secret = secrets.token_urlsafe(24)
        self.port = _udp_and_tcp_free_port(host)
        self.relay_ports = free_port_range([host], RELAY_PORTS)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = self.dir / "turnserver.log"

    @property
    def urls(self) -> list[str]:
        return [f"turn:{self.host}:{self.port}?transport=udp", f"turn:{self.host}:{self.port}?transport=tcp"]

    def credentials(self, user: str, ttl_s: float = 3600.0) -> tuple[str, str]:
        return rest_credentials(self.secret, user, ttl_s)

    def _args(self) -> list[str]:
        return ["turnserver", "-n",  # -n: no configuration file, only these options
                "--listening-ip", self.host, "--listening-port", str(self.port),
                "--relay-ip", self.host, "--external-ip", self.host,
                "--min-port", str(self.relay_ports[0]), "--max-port", str(self.relay_ports[-1]),
                "--use-auth-secret", f"--static-auth-secret={self.secret}", "--realm", REALM,
                "--no-cli", "--no-tls", "--no-dtls", "--no-rfc5780", "--no-stun-backward-compatibility",
                # rtserver's media, the peer, listens on this same test address: allow it explicitly.
                "--allowed-peer-ip", self.host, "--allow-loopback-peers",
                "--db", str(self.dir / "turndb"), "--pidfile", str(self.dir / "turnserver.pid"),
                "--log-file", "stdout", "--simple-log", "--verbose"]

    def start(self) -> None:
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self._args(), cwd=self.dir, stdout=log, stderr=subprocess.STDOUT,
                                         preexec_fn=die_with_parent)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"turnserver exited {self.proc.returncode}: {self.log_tail()}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise AssertionError(f"turnserver on {self.host}:{self.port} not listening in {START_TIMEOUT_S} s: "
                             f"{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else "(no log)"
