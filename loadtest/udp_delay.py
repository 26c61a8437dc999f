"""A user-space UDP relay that adds delay and jitter, for kernels without ``netem``.

It listens on a set of ports on one address and forwards each datagram to the same port on an
upstream address; replies come back the same way. Each datagram is held ``delay_ms / 2 ± jitter_ms``
in each direction, so a round trip gains ``delay_ms``. Each (client address, port) flow gets its own
upstream socket, so the upstream sees one distinct source per client and its replies reach the
right client.

A server puts it in the media path by binding its media to a port range behind the relay and
announcing the relay's address in its ICE candidates (``--media-port-range``,
``--media-announced-address``)::

    python -m loadtest.udp_delay --listen 10.0.0.1 --upstream 10.0.0.2 --ports 40000-40019 \\
        --delay-ms 200 --jitter-ms 10

Flows from ``undelayed_hosts`` are forwarded at once, both ways: a participant on the server's side
(an interview's other end) then crosses the same relay without the client's delay.

What it does not do: no loss, no rate limit (use iptables and tc tbf), and with jitter datagrams of
one flow may be reordered, as on a real path with jitter. At most ``max_queued`` datagrams wait at
once; beyond, new ones are dropped and counted in ``dropped``.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import itertools
import random
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["UdpDelayRelay", "main", "parse_ports"]

MAX_DATAGRAM = 65535
# A timer may fire up to the loop's clock resolution early; datagrams due within this are sent then
# rather than left waiting for the next timer.
DUE_TOLERANCE_S = 0.0005


def parse_ports(spec: str) -> list[int]:
    """``"40000-40019"`` or ``"5000,5002,6000-6001"`` -> the list of ports."""
    ports: list[int] = []
    for part in spec.split(","):
        first, _, last = part.strip().partition("-")
        ports.extend(range(int(first), int(last or first) + 1))
    if not ports or any(not 0 < p < 65536 for p in ports):
        raise ValueError(f"bad port list {spec!r}")
    return ports


@dataclass
class _Flow:
    """One client on one listening port, and the upstream socket that speaks for it."""

    client: tuple[str, int]
    listener: socket.socket
    upstream: socket.socket
    delayed: bool = True
    last_seen: float = field(default_factory=time.monotonic)


class UdpDelayRelay:
    """``await relay.start()`` binds every port (raising ``OSError`` if one is taken);
    ``await relay.close()`` closes every socket and drops what is still waiting."""

    def __init__(self, *, listen_host: str, upstream_host: str, ports: list[int], delay_ms: float,
                 jitter_ms: float = 0.0, max_queued: int = 10_000, idle_timeout_s: float = 120.0,
                 max_flows: int = 1000, seed: int | None = None, undelayed_hosts: frozenset[str] = frozenset()):
        if delay_ms < 0 or jitter_ms < 0:
            raise ValueError("delay and jitter must be >= 0")
        self.listen_host = listen_host
        self.upstream_host = upstream_host
        self.ports = list(ports)
        self.one_way_s = delay_ms / 2000
        self.jitter_s = jitter_ms / 1000
        self.max_queued = max_queued
        self.idle_timeout_s = idle_timeout_s
        self.max_flows = max_flows
        self.undelayed_hosts = frozenset(undelayed_hosts)
        self.forwarded = 0
        self.dropped = 0
        self._random = random.Random(seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listeners: list[socket.socket] = []
        self._flows: dict[tuple[tuple[str, int], int], _Flow] = {}
        # (due time, sequence, socket, payload, destination): the sequence keeps FIFO order among
        # datagrams due at the same time, so a flow without jitter is never reordered.
        self._queue: list[tuple[float, int, socket.socket, bytes, tuple[str, int] | None]] = []
        self._sequence = itertools.count()
        self._sweeper: asyncio.TimerHandle | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        try:
            for port in self.ports:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self._listeners.append(sock)
                sock.setblocking(False)
                sock.bind((self.listen_host, port))
                self._loop.add_reader(sock.fileno(), self._on_client_datagram, sock, port)
        except BaseException:
            await self.close()
            raise
        self._sweeper = self._loop.call_later(self.idle_timeout_s / 2, self._sweep_idle_flows)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for flow in list(self._flows.values()):
            self._close_socket(flow.upstream)
        self._flows.clear()
        for sock in self._listeners:
            self._close_socket(sock)
        self._listeners.clear()
        self._queue.clear()

    def _close_socket(self, sock: socket.socket) -> None:
        if self._loop is not None and sock.fileno() >= 0:
            self._loop.remove_reader(sock.fileno())
        sock.close()

    def _on_client_datagram(self, listener: socket.socket, port: int) -> None:
        for data, client in _drain(listener):
            flow = self._flows.get((client, port)) or self._open_flow(client, port, listener)
            if flow is None:
                self.dropped += 1
                continue
            flow.last_seen = time.monotonic()
            self._hold(flow.upstream, data, None, flow.delayed)

    def _on_upstream_datagram(self, flow: _Flow) -> None:
        for data, _source in _drain(flow.upstream):
            flow.last_seen = time.monotonic()
            self._hold(flow.listener, data, flow.client, flow.delayed)

    def _open_flow(self, client: tuple[str, int], port: int, listener: socket.socket) -> _Flow | None:
        if len(self._flows) >= self.max_flows:
            return None
        assert self._loop is not None
        upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        upstream.setblocking(False)
        upstream.connect((self.upstream_host, port))  # a connected socket only hears from upstream
        flow = _Flow(client, listener, upstream, delayed=client[0] not in self.undelayed_hosts)
        self._flows[(client, port)] = flow
        self._loop.add_reader(upstream.fileno(), self._on_upstream_datagram, flow)
        return flow

    def _hold(self, sock: socket.socket, data: bytes, destination: tuple[str, int] | None, delayed: bool) -> None:
        if len(self._queue) >= self.max_queued:
            self.dropped += 1
            return
        assert self._loop is not None
        hold_s = max(0.0, self.one_way_s + self._random.uniform(-self.jitter_s, self.jitter_s)) if delayed else 0.0
        due = self._loop.time() + hold_s
        heapq.heappush(self._queue, (due, next(self._sequence), sock, data, destination))
        # One timer per datagram: whichever fires sends everything due, in (due, sequence) order.
        self._loop.call_at(due, self._send_due)

    def _send_due(self) -> None:
        assert self._loop is not None
        now = self._loop.time() + DUE_TOLERANCE_S
        while self._queue and self._queue[0][0] <= now:
            _due, _seq, sock, data, destination = heapq.heappop(self._queue)
            try:
                if destination is None:
                    sock.send(data)
                else:
                    sock.sendto(data, destination)
                self.forwarded += 1
            except OSError:  # full send buffer, upstream port closed (ICMP), socket closed: a lost datagram
                self.dropped += 1

    def _sweep_idle_flows(self) -> None:
        assert self._loop is not None
        cutoff = time.monotonic() - self.idle_timeout_s
        for key, flow in list(self._flows.items()):
            if flow.last_seen < cutoff:
                self._close_socket(flow.upstream)
                del self._flows[key]
        self._sweeper = self._loop.call_later(self.idle_timeout_s / 2, self._sweep_idle_flows)


def _drain(sock: socket.socket) -> list[tuple[bytes, tuple[str, int]]]:
    """Every datagram waiting on a non-blocking socket (a bounded batch, so one busy socket cannot
    starve the others)."""
    datagrams = []
    for _ in range(64):
        try:
            datagrams.append(sock.recvfrom(MAX_DATAGRAM))
        except (BlockingIOError, InterruptedError):
            break
        except OSError:  # ICMP port unreachable reported on a connected socket: nothing to read
            break
    return datagrams


async def _run(args: argparse.Namespace, on_ready: Callable[[UdpDelayRelay], None]) -> None:
    relay = UdpDelayRelay(listen_host=args.listen, upstream_host=args.upstream, ports=parse_ports(args.ports),
                          delay_ms=args.delay_ms, jitter_ms=args.jitter_ms, max_queued=args.max_queued)
    await relay.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    on_ready(relay)
    try:
        await stop.wait()
    finally:
        await relay.close()
        print(f"udp_delay: forwarded {relay.forwarded}, dropped {relay.dropped}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m loadtest.udp_delay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", required=True, help="address the relay listens on")
    parser.add_argument("--upstream", required=True, help="address datagrams are forwarded to (same port)")
    parser.add_argument("--ports", required=True, help="FIRST-LAST or a comma-separated list")
    parser.add_argument("--delay-ms", type=float, required=True, help="round-trip delay added (half each way)")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="± uniform jitter added in each direction")
    parser.add_argument("--max-queued", type=int, default=10_000, help="datagrams held at once before dropping")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop (if installed)")
    args = parser.parse_args(argv)

    def ready(relay: UdpDelayRelay) -> None:
        print(f"udp_delay: {args.listen}:{args.ports} -> {args.upstream}: round trip +{args.delay_ms} ms, "
              f"±{args.jitter_ms} ms jitter each way", flush=True)

    if args.uvloop:
        import uvloop

        uvloop.run(_run(args, ready))
    else:
        asyncio.run(_run(args, ready))


if __name__ == "__main__":
    main()
