"""Two hosts on one machine for network tests: the root namespace (server side) and a client namespace,
joined by a veth pair, with impairments applied inside the client namespace only.

    server (root ns) 10.201.X.1/30 <-- veth --> 10.201.X.2/30 client (namespace rt<pid>n<k>)

The kernel has no ``netem``, so impairments are built from what it has, and they combine:

- ``loss(p)`` / ``loss(down=p, up=q)``: iptables ``statistic`` DROPs of UDP, on the namespace's INPUT
  (downlink datagrams lost before any socket sees them) and on its OUTPUT (uplink: the sender's
  ``sendto`` gets EPERM for a dropped datagram, which aioice and Chromium both treat as a lost
  packet; the kernel has no tc actions, so there is no silent egress drop to use instead);
- ``cap(kbit)`` / ``cap(down_kbit=..., up_kbit=...)``: a ``tbf`` qdisc on the root-side veth end
  (what it sends is the client's downlink) and on the namespace's end (the uplink);
- ``uncap()``: the caps lifted (a link that recovers);
- ``block_udp()``: an iptables DROP of every UDP datagram on the namespace's veth (TCP, hence TURN
  over TCP, still passes).

Added delay comes from the user-space relay ``loadtest.udp_delay`` run in the root namespace. Nothing
touches the root namespace's iptables or any device but our own veth end, so the rest of the machine
is unaffected.

Use the ``two_hosts`` fixture (import it into the test module); it skips with the reason when
namespaces cannot be made (not root, no iproute2), and always deletes the namespace and the link.
Programs run in the namespace with ``await net.run_json([...])`` / ``await net.start(...)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

__all__ = ["REPO", "TwoHosts", "create_two_hosts", "free_port_range", "kill", "two_hosts"]

REPO = Path(__file__).resolve().parent.parent
PROBE = Path(__file__).resolve().parent / "netns_probe.py"
SUBNET_PREFIX = "10.201."
COMMAND_TIMEOUT_S = 10.0
# Creating a link and picking its subnet must be atomic across concurrent test runs on this machine.
LOCK_FILE = Path("/run/lock/rtserver-netns.lock") if Path("/run/lock").is_dir() else Path("/tmp/rtserver-netns.lock")
_NAME = re.compile(r"^rt(\d+)n\d+$")
_counter = iter(range(10_000))


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=check)


class TwoHosts:
    """A client namespace joined to the root namespace; ``destroy()`` is idempotent."""

    def __init__(self, index: int):
        pid = os.getpid()
        self.ns = f"rt{pid}n{index}"
        self.host_veth = f"rt{pid}h{index}"  # stays in the root namespace: the server side
        self.ns_veth = f"rt{pid}c{index}"
        self.server_ip = ""
        self.client_ip = ""
        self._impairments: list[str] = []

    def create(self) -> None:
        _ip("netns", "add", self.ns)
        with _subnet_lock():
            octet = _free_subnet_octet()
            self.server_ip, self.client_ip = f"{SUBNET_PREFIX}{octet}.1", f"{SUBNET_PREFIX}{octet}.2"
            _ip("link", "add", self.host_veth, "type", "veth", "peer", "name", self.ns_veth, "netns", self.ns)
            _ip("addr", "add", f"{self.server_ip}/30", "dev", self.host_veth)
        # No IPv6 in the namespace: its link-local address would appear 1-2 s after the link is up
        # (duplicate address detection), a network change to a Chromium started in the meantime,
        # which then fails the page loads under way (net::ERR_NETWORK_CHANGED).
        # Our root-side end likewise (the advisor's Chromium is in the root namespace).
        for key in ("all", "default", self.ns_veth):
            self.exec("sysctl", "-q", "-w", f"net.ipv6.conf.{key}.disable_ipv6=1")
        subprocess.run(["sysctl", "-q", "-w", f"net.ipv6.conf.{self.host_veth}.disable_ipv6=1"], check=True,
                       capture_output=True, timeout=COMMAND_TIMEOUT_S)
        _ip("link", "set", self.host_veth, "up")
        _ip("-n", self.ns, "addr", "add", f"{self.client_ip}/30", "dev", self.ns_veth)
        _ip("-n", self.ns, "link", "set", self.ns_veth, "up")
        _ip("-n", self.ns, "link", "set", "lo", "up")

    def destroy(self) -> None:
        # Deleting the namespace deletes its veth end, and with it our root-side end (and the qdisc on it).
        _ip("link", "del", self.host_veth, check=False)
        _ip("netns", "del", self.ns, check=False)

    def exec(self, *args: str) -> str:
        """Run a command in the namespace (bounded), raising with its stderr if it fails."""
        done = subprocess.run(["ip", "netns", "exec", self.ns, *args], capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT_S)
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(args)} in {self.ns} failed: {done.stderr.strip()}")
        return done.stdout

    # Impairments: all inside the namespace, except the tbf on our own root-side veth end.

    def loss(self, probability: float | None = None, *, down: float | None = None, up: float | None = None) -> None:
        """Drop this share of the UDP datagrams each way. ``loss(p)`` alone is the downlink only (the
        datagrams entering the namespace), as it always was; ``down``/``up`` name each direction."""
        if probability is not None:
            if down is not None:
                raise ValueError("loss(p) is the downlink's: give either p or down=")
            down = probability
        for name, share in (("down", down), ("up", up)):
            if share is not None and not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} loss must be a probability in 0..1, not {share!r}")
        if down:
            self.exec("iptables", "-A", "INPUT", "-i", self.ns_veth, "-p", "udp", "-m", "statistic",
                      "--mode", "random", "--probability", f"{down:.4f}", "-j", "DROP")
            self._impairments.append(f"loss down {down:.0%}")
        if up:
            self.exec("iptables", "-A", "OUTPUT", "-o", self.ns_veth, "-p", "udp", "-m", "statistic",
                      "--mode", "random", "--probability", f"{up:.4f}", "-j", "DROP")
            self._impairments.append(f"loss up {up:.0%}")

    def cap(self, kbit: int | None = None, *, down_kbit: int | None = None, up_kbit: int | None = None,
            latency_ms: int = 50) -> None:
        """Limit the rate: ``cap(kbit)`` each direction, or ``down_kbit`` (what the namespace receives:
        tbf on the root-side end) and ``up_kbit`` (what it sends: tbf on its own end) apart. What waits
        longer than ``latency_ms`` is dropped, as in a saturated home or mobile link."""
        if kbit is not None:
            if down_kbit is not None or up_kbit is not None:
                raise ValueError("cap(kbit) caps both directions: give either kbit or down_kbit/up_kbit")
            down_kbit = up_kbit = kbit
        for name, rate in (("down", down_kbit), ("up", up_kbit)):
            if rate is not None and rate < 8:
                raise ValueError(f"{name} cap must be at least 8 kbit/s, not {rate!r}")
        if up_kbit:
            self.exec("tc", "qdisc", "add", "dev", self.ns_veth, *_tbf(up_kbit, latency_ms))
        if down_kbit:
            subprocess.run(["tc", "qdisc", "add", "dev", self.host_veth, *_tbf(down_kbit, latency_ms)], check=True,
                           capture_output=True, timeout=COMMAND_TIMEOUT_S)
        if kbit is not None:
            self._impairments.append(f"cap {kbit} kbit/s")
        else:
            self._impairments += [f"cap {d} {r} kbit/s" for d, r in (("down", down_kbit), ("up", up_kbit)) if r]

    def uncap(self) -> None:
        """Lift every rate cap ``cap`` set (the link is restored; loss and blocking stay)."""
        if self._has_tbf(ns=True):
            self.exec("tc", "qdisc", "del", "dev", self.ns_veth, "root")
        if self._has_tbf(ns=False):
            subprocess.run(["tc", "qdisc", "del", "dev", self.host_veth, "root"], check=True, capture_output=True,
                           timeout=COMMAND_TIMEOUT_S)
        self._impairments = [i for i in self._impairments if not i.startswith("cap ")]

    def _has_tbf(self, *, ns: bool) -> bool:
        argv = ["tc", "qdisc", "show", "dev", self.ns_veth if ns else self.host_veth]
        out = self.exec(*argv) if ns else subprocess.run(argv, capture_output=True, text=True, check=True,
                                                         timeout=COMMAND_TIMEOUT_S).stdout
        return "qdisc tbf" in out

    def block_udp(self) -> None:
        """Drop every UDP datagram on the namespace's veth, both ways; TCP (TURN/TCP, TURN/TLS) still passes."""
        self.exec("iptables", "-A", "OUTPUT", "-o", self.ns_veth, "-p", "udp", "-j", "DROP")
        self.exec("iptables", "-A", "INPUT", "-i", self.ns_veth, "-p", "udp", "-j", "DROP")
        self._impairments.append("udp blocked")

    def describe(self) -> str:
        return f"{self.ns} {self.client_ip} -> {self.server_ip} ({', '.join(self._impairments) or 'clean'})"

    # Programs in the namespace.

    def python_argv(self, *args: str) -> list[str]:
        """``ip netns exec <ns> <this python> args...``: our venv's interpreter, run from the repository."""
        return ["ip", "netns", "exec", self.ns, sys.executable, *args]

    async def start(self, *args: str) -> asyncio.subprocess.Process:
        """Start ``python args...`` in the namespace (stdout piped); the caller must wait for or kill it."""
        return await asyncio.create_subprocess_exec(*self.python_argv(*args), cwd=REPO, stdout=subprocess.PIPE,
                                                    stderr=subprocess.PIPE)

    async def run_json(self, args: list[str], *, timeout_s: float = 30.0, accept_exit: tuple[int, ...] = (0,)) -> Any:
        """Run ``python args...`` in the namespace and parse the last line of its stdout as JSON."""
        proc = await self.start(*args)
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
        except TimeoutError:
            await kill(proc)
            raise AssertionError(f"{args} in {self.describe()} still running after {timeout_s} s") from None
        if proc.returncode not in accept_exit:
            raise AssertionError(f"{args} in {self.describe()} exited {proc.returncode}: {err.decode()[-3000:]}")
        lines = out.decode().strip().splitlines()
        if not lines:
            raise AssertionError(f"{args} in {self.describe()} printed nothing: {err.decode()[-3000:]}")
        return json.loads(lines[-1])

    async def probe(self, *args: str, timeout_s: float = 30.0) -> Any:
        """One of ``tests/netns_probe.py``'s probes, run in the namespace."""
        return await self.run_json([str(PROBE), *args], timeout_s=timeout_s)


def _tbf(kbit: int, latency_ms: int) -> list[str]:
    """A root tbf qdisc at ``kbit``: its burst is one full-size packet at least (tbf needs that) and
    20 ms of the rate, no more (a larger bucket would let short bursts through uncapped)."""
    burst_bytes = max(3000, kbit * 1000 // 8 // 50)
    return ["root", "tbf", "rate", f"{kbit}kbit", "burst", str(burst_bytes), "latency", f"{latency_ms}ms"]


async def kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.kill()
    await proc.communicate()


def free_port_range(hosts: list[str], count: int, kind: int = socket.SOCK_DGRAM) -> list[int]:
    """``count`` consecutive ports free on every one of ``hosts`` (checked, then released: a server
    started right after gets them unless another process races it, which the kernel's random
    ephemeral choice makes unlikely)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.bind((hosts[0], 0))
            first = probe.getsockname()[1]
        ports = list(range(first, first + count))
        if ports[-1] > 65535:
            continue
        socks: list[socket.socket] = []
        try:
            for host in hosts:
                for port in ports:
                    sock = socket.socket(socket.AF_INET, kind)
                    socks.append(sock)
                    sock.bind((host, port))
            return ports
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise AssertionError(f"no {count} consecutive free ports on {hosts}")


@contextlib.contextmanager
def _subnet_lock() -> Iterator[None]:
    with open(LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _free_subnet_octet() -> int:
    used = set(re.findall(r"inet 10\.201\.(\d+)\.", _ip("-o", "-4", "addr", "show").stdout))
    for octet in range(256):
        if str(octet) not in used:
            return octet
    raise AssertionError("no free 10.201.X.0/30 subnet left: stale test links? (ip -o addr | grep 10.201.)")


def _delete_stale_namespaces() -> None:
    """Namespaces left by a test run that was killed (its pid is gone): without this they pile up."""
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        match = _NAME.match(line.split()[0]) if line.strip() else None
        if match and int(match.group(1)) != os.getpid() and not Path(f"/proc/{match.group(1)}").exists():
            _ip("netns", "del", match.group(0), check=False)


def create_two_hosts() -> TwoHosts:
    """A ready network, or ``pytest.skip`` saying why there cannot be one. The caller destroys it."""
    if os.geteuid() != 0:
        pytest.skip("network namespace tests need root (ip netns add); .ci/run runs them as root")
    for tool in ("ip", "iptables", "tc"):
        if shutil.which(tool) is None:
            pytest.skip(f"network namespace tests need {tool} (Debian packages iproute2, iptables)")
    _delete_stale_namespaces()
    net = TwoHosts(next(_counter))
    try:
        net.create()
    except subprocess.CalledProcessError as exc:
        net.destroy()
        if exc.cmd[:3] == ["ip", "netns", "add"]:
            pytest.skip(f"cannot create a network namespace: {exc.stderr.strip()}")
        raise
    except BaseException:
        net.destroy()
        raise
    return net


@pytest.fixture
def two_hosts(request: pytest.FixtureRequest) -> TwoHosts:
    net = create_two_hosts()
    request.addfinalizer(net.destroy)
    return net
