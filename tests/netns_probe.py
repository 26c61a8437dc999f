"""Small network probes run inside a test namespace (``python tests/netns_probe.py <probe> ...``).

Each prints one JSON object as its last line of stdout; a probe that serves (``udp-sink``) prints its
ports first, as a line of JSON, so the test knows when it is ready. Every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import select
import socket
import statistics
import sys
import time
from typing import Any

SO_RCVBUFFORCE = 33  # Linux: root may exceed rmem_max, so the sink's own buffer never drops datagrams


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def udp_rtt(args: argparse.Namespace) -> dict[str, Any]:
    """Sequential pings to a UDP echo: each one's round-trip time in ms (None when lost)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(_address(args.to))
    sock.settimeout(args.timeout_s)
    rtts: list[float | None] = []
    for seq in range(args.count):
        payload = seq.to_bytes(4, "big") + bytes(args.size - 4)
        start = time.perf_counter()
        sock.send(payload)
        rtt = None
        try:
            while rtt is None:
                if sock.recv(65535)[:4] == payload[:4]:  # ignore a late reply to an earlier ping
                    rtt = (time.perf_counter() - start) * 1000
        except TimeoutError:
            pass
        rtts.append(rtt)
    got = [r for r in rtts if r is not None]
    return {"rtts_ms": rtts, "median_ms": statistics.median(got) if got else None,
            "stdev_ms": statistics.pstdev(got) if got else None}


def udp_sink(args: argparse.Namespace) -> dict[str, Any]:
    """Count UDP datagrams until the sender says ``done`` on the TCP control connection."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 8 << 20)
    udp.bind((args.bind, 0))
    control = socket.create_server((args.bind, 0))
    print(json.dumps({"udp_port": udp.getsockname()[1], "tcp_port": control.getsockname()[1]}), flush=True)
    control.settimeout(args.timeout_s)
    conn, _ = control.accept()
    received = 0
    deadline = time.monotonic() + args.timeout_s
    done = False
    while time.monotonic() < deadline:
        readable, _, _ = select.select([udp, conn], [], [], max(0.0, deadline - time.monotonic()))
        if udp in readable:
            udp.recv(65535)
            received += 1
        elif conn in readable:
            conn.recv(100)  # read "done", or closing with it unread would reset the connection
            done = True  # the control message came after every datagram on the same link: count what is queued
            udp.setblocking(False)
            try:
                while True:
                    udp.recv(65535)
                    received += 1
            except BlockingIOError:
                break
    result = {"received": received, "done": done}
    conn.sendall(json.dumps(result).encode() + b"\n")
    conn.close()
    return result


def udp_blast(args: argparse.Namespace) -> dict[str, Any]:
    """Send datagrams at ``kbps`` for ``seconds``, paced; a full queue below us is counted, not fatal."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(_address(args.to))
    sock.setblocking(False)
    interval = args.size * 8 / (args.kbps * 1000)
    start = time.monotonic()
    sent = errors = 0
    while (now := time.monotonic()) - start < args.seconds:
        next_at = start + sent * interval
        if now < next_at:
            time.sleep(next_at - now)
        try:
            sock.send(bytes(args.size))
        except OSError:  # ENOBUFS / EAGAIN: the qdisc's queue is full
            errors += 1
        sent += 1
    return {"sent": sent, "errors": errors, "seconds": time.monotonic() - start}


def reach(args: argparse.Namespace) -> dict[str, Any]:
    """Whether a UDP echo answers and a TCP echo accepts and echoes."""
    result: dict[str, Any] = {"udp": False, "udp_error": None, "tcp": False, "tcp_error": None}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(args.timeout_s)
        try:
            udp.sendto(b"reach", _address(args.udp))
            result["udp"] = udp.recv(100) == b"reach"
        except OSError as exc:  # EPERM when our own OUTPUT rule drops it; a timeout when the far side does
            result["udp_error"] = type(exc).__name__
    try:
        with socket.create_connection(_address(args.tcp), timeout=args.timeout_s) as tcp:
            tcp.sendall(b"reach")
            result["tcp"] = tcp.recv(100) == b"reach"
    except OSError as exc:
        result["tcp_error"] = type(exc).__name__
    return result


async def _turn_allocate(args: argparse.Namespace) -> dict[str, Any]:
    from aioice.turn import create_turn_endpoint

    received: asyncio.Queue[bytes] = asyncio.Queue()

    class Peer(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            received.put_nowait(data)

    result: dict[str, Any] = {"allocated": False, "relayed": None, "echo": False, "error": None}
    try:
        transport, _ = await asyncio.wait_for(create_turn_endpoint(
            Peer, server_addr=_address(args.server), username=args.username, password=args.password,
            transport=args.transport), args.timeout_s)
    except Exception as exc:  # what failed is the result
        result["error"] = f"{type(exc).__name__}: {exc}"
        return result
    result["allocated"] = True
    result["relayed"] = list(transport.get_extra_info("sockname"))
    try:
        transport.sendto(b"via-turn", _address(args.peer))
        result["echo"] = await asyncio.wait_for(received.get(), args.timeout_s) == b"via-turn"
    except TimeoutError:
        result["error"] = "no echo from the peer through the relay"
    finally:
        transport.close()
    return result


def turn_allocate(args: argparse.Namespace) -> dict[str, Any]:
    """A TURN allocation with the given credentials, and one datagram echoed by a peer through it."""
    return asyncio.run(_turn_allocate(args))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    probes = parser.add_subparsers(dest="probe", required=True)
    p = probes.add_parser("udp-rtt")
    p.add_argument("--to", required=True)
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--size", type=int, default=100)
    p.add_argument("--timeout-s", type=float, default=2.0)
    p = probes.add_parser("udp-sink")
    p.add_argument("--bind", required=True)
    p.add_argument("--timeout-s", type=float, default=20.0)
    p = probes.add_parser("udp-blast")
    p.add_argument("--to", required=True)
    p.add_argument("--kbps", type=float, required=True)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--size", type=int, default=1000)
    p = probes.add_parser("reach")
    p.add_argument("--udp", required=True)
    p.add_argument("--tcp", required=True)
    p.add_argument("--timeout-s", type=float, default=1.0)
    p = probes.add_parser("turn-allocate")
    p.add_argument("--server", required=True)
    p.add_argument("--transport", choices=["udp", "tcp"], required=True)
    p.add_argument("--username", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--peer", required=True)
    p.add_argument("--timeout-s", type=float, default=10.0)
    args = parser.parse_args(argv)
    probe = {"udp-rtt": udp_rtt, "udp-sink": udp_sink, "udp-blast": udp_blast, "reach": reach,
             "turn-allocate": turn_allocate}[args.probe]
    print(json.dumps(probe(args)), flush=True)


if __name__ == "__main__":
    sys.exit(main())
