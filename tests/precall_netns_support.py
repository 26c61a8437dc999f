"""What the end-to-end pre-call tests over impaired networks need: a real rtserver node in the root
namespace (a subprocess, bound to the test network's server address), tokens for it, and the Python
pre-call check run inside the client namespace.

Three media set-ups, by what the scenario needs:
- plain: media bound to the server's veth address (``media_listen_address=net.server_ip``);
- added delay: ``delayed_media(net, delay_ms=...)`` binds media to 127.0.0.1 on a port range and puts
  a ``UdpDelayRelay`` on the veth address in front of it, announced in the node's ICE candidates,
  so every media datagram crosses the relay (the relay cannot share the node's address and ports);
- TURN: ``TurnServer(net.server_ip, ...)``, its ``urls`` and ``secret`` passed as ``ice_servers`` and
  ``turn_secret``.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netns import REPO, TwoHosts, free_port_range
from redis_server import die_with_parent

from rtserver.auth import mint_token

if str(REPO) not in sys.path:  # loadtest/ is a top-level package of the repository, not an installed one
    sys.path.insert(0, str(REPO))
from loadtest.udp_delay import UdpDelayRelay

__all__ = ["DelayedMedia", "RtserverNode", "delayed_media", "dump", "run_precall_check", "start_node"]

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
MEDIA_PORTS = 20  # two per participant: enough for the echo room and a retry


class RtserverNode:
    """``rtserver serve`` as a subprocess; ``stop()`` always (a fixture finalizer)."""

    def __init__(self, workdir: Path, *, host: str, media_listen_address: str = "", media_port_range: str = "",
                 media_announced_address: str = "", ice_servers: list[str] | None = None, turn_secret: str = "",
                 extra_args: list[str] | None = None):
        self.host = host
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = _free_port(host, socket.SOCK_STREAM)
        self.secret = secrets.token_urlsafe(32)
        self.log = self.dir / "rtserver.log"
        self.proc: subprocess.Popen[bytes] | None = None
        options = {"--host": host, "--port": str(self.port), "--store": f"sqlite:{self.dir / 'rt.db'}",
                   "--secret-file": str(self.dir / "unused.secret"), "--shutdown-timeout-s": "2",
                   "--media-listen-address": media_listen_address or host, "--media-port-range": media_port_range,
                   "--media-announced-address": media_announced_address,
                   "--ice-servers": ",".join(ice_servers or []), "--turn-secret": turn_secret}
        # --flag=value: a value starting with "-" (token_urlsafe gives one in 64) would read as a flag.
        self.args = [sys.executable, "-m", "rtserver", "serve",
                     *(f"{flag}={value}" for flag, value in options.items() if value), *(extra_args or [])]

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}/ws"

    def token(self, user: str, role: str = "jobseeker", ttl_s: float = 600) -> str:
        return mint_token(secret=self.secret, user_id=user, role=role, ttl_s=ttl_s)

    def start(self) -> None:
        # The secret goes by environment, not argv: ps would show it to every user of the machine.
        env = {**os.environ, "RTSERVER_SECRET": self.secret}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.args, cwd=self.dir, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         preexec_fn=die_with_parent)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"rtserver exited {self.proc.returncode}: {self.log_tail()}")
            if self._ready():
                return
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"rtserver not ready on {self.http_url} in {START_TIMEOUT_S} s: {self.log_tail()}")

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.http_url}/readyz", timeout=1) as resp:
                return resp.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # a clean shutdown: the store is flushed
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT_S)
        self.proc = None

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else "(no log)"


def start_node(workdir: Path, **options: Any) -> RtserverNode:
    """A started node (see ``RtserverNode`` for the options); the caller stops it."""
    node = RtserverNode(workdir, **options)
    node.start()
    return node


@dataclass
class DelayedMedia:
    """Node options that put the relay in the media path, and the relay to start and close."""

    relay: UdpDelayRelay
    node_options: dict[str, str]


def delayed_media(net: TwoHosts, *, delay_ms: float, jitter_ms: float = 0.0,
                  undelayed_hosts: frozenset[str] = frozenset()) -> DelayedMedia:
    """The node's media on 127.0.0.1:P..P+19, the relay on server_ip:P..P+19 forwarding to it, and the
    relay's address announced: every media datagram crosses the relay, both ways (delayed, unless it
    comes from one of ``undelayed_hosts``: a peer on the server's side bound to ``net.server_ip``).
    ``await media.relay.start()`` before the node takes calls; ``await media.relay.close()`` at the end."""
    ports = free_port_range(["127.0.0.1", net.server_ip], MEDIA_PORTS)
    relay = UdpDelayRelay(listen_host=net.server_ip, upstream_host="127.0.0.1", ports=ports,
                          delay_ms=delay_ms, jitter_ms=jitter_ms, undelayed_hosts=undelayed_hosts)
    return DelayedMedia(relay, {"media_listen_address": "127.0.0.1", "media_port_range": f"{ports[0]}-{ports[-1]}",
                                "media_announced_address": net.server_ip})


async def run_precall_check(net: TwoHosts, node: RtserverNode, user: str, *, measure_s: float = 5.0,
                            timeout_s: float = 60.0) -> dict[str, Any]:
    """The Python pre-call check (``python -m rtserver.client.precall``) run in the client namespace
    against the node: the result the node computed (verdict, findings, measurements)."""
    args = ["-m", "rtserver.client.precall", node.ws_url, "--token", node.token(user), "--measure-s", str(measure_s)]
    # It exits 1 for a not-ready verdict: that is a result, not a failure.
    result: dict[str, Any] = await net.run_json(args, timeout_s=timeout_s, accept_exit=(0, 1))
    return result


def _free_port(host: str, kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def dump(result: dict[str, Any]) -> str:
    """A result in an assertion message: what the verdict was made of."""
    return json.dumps(result, indent=1, ensure_ascii=False)[:4000]
