"""A load-generator process: many chat connections on one uvloop loop, driven over a pipe.

The coordinator sends commands (``connect``, ``run``, ``drain``, ``close``); the worker answers
each with one reply and sends a ``stats`` message every second for the progress line.

Each connection checks the offsets it receives (each exactly once, in order), and records
end-to-end latency from the send time the sender wrote at the start of the message text.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import math
import os
import queue
import resource
import threading
import time
import traceback
from multiprocessing.connection import Connection
from typing import Any

import msgpack
import orjson

from rtserver.auth import mint_token

from .stats import BUCKETS, SCALE, sparse
from .wsproto import OP_BINARY, OP_TEXT, WsProtocol

__all__ = ["ChatClient", "Worker", "worker_main"]

_log = math.log
_IGNORED = frozenset((b"mem", b"pre", b"typ", b"rea"))  # member, presence, typing, read events (JSON)
MAX_SEND_BUFFER = 1 << 20  # a sender whose socket buffer holds this much skips its turn
TS_DIGITS = 16  # send time in microseconds since the epoch, at the start of each message text


class Counters:
    """One worker's counts, shared by its connections (attribute access is the hot path)."""

    def __init__(self) -> None:
        self.connected = 0
        self.closed = 0
        self.sent = 0
        self.skipped = 0
        self.acked = 0
        self.delivered = 0
        self.lost = 0
        self.duplicates = 0
        self.last_rx_us = 0
        self.last_ack_us = 0
        self.lat = [0] * BUCKETS  # delivery latency of this step
        self.ack = [0] * BUCKETS  # ack latency of this step
        self.errors: collections.Counter[str] = collections.Counter()
        self.close_codes: collections.Counter[str] = collections.Counter()
        self.room_max: dict[str, int] = {}  # highest acknowledged offset per room


class ChatClient(WsProtocol):
    def __init__(self, counters: Counters, *, host: str, token: str, room: str, sender: bool, codec: str,
                 text_size: int, use_key: bool):
        subprotocol = "rtserver.v1.msgpack" if codec == "msgpack" else "rtserver.v1.json"
        super().__init__(host, "/ws", {"Authorization": f"Bearer {token}"}, subprotocol)
        self.c = counters
        self.room = room
        self.sender = sender
        self.joined = False
        self.expected = 0  # next offset due in the room; 0 until the join tells the head
        self.step_start = 0
        self.pending: dict[int, int] = {}  # request id -> send time (us)
        self.next_id = 1
        self.waiters: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self.json = codec != "msgpack"
        self.decode = orjson.loads if self.json else msgpack.unpackb
        self._pad = "x" * max(0, text_size - TS_DIGITS - 1)
        self._use_key = use_key
        template = '{"type":"send","id":%d,"room":"' + room + '","text":"%d ' + self._pad + '"'
        self._template = (template + (',"key":"k%d"}' if use_key else "}")).encode()
        self.hello = self.wait_for("hello")  # before any data can arrive

    # -- receiving ----------------------------------------------------------------------------
    def on_message(self, payload: bytes, now_us: int) -> None:
        if self.json and payload[9:12] in _IGNORED:
            return
        event = self.decode(payload)
        kind = event.get("type")
        c = self.c
        if kind == "message":
            offset = event["offset"]
            expected = self.expected
            if offset == expected or not expected:
                self.expected = offset + 1
            elif offset > expected:
                c.lost += offset - expected
                self.expected = offset + 1
            else:
                c.duplicates += 1
                return
            c.delivered += 1
            c.last_rx_us = now_us
            try:
                latency = now_us - int(event["text"][:TS_DIGITS])
            except ValueError:
                return
            i = int(_log(latency) * SCALE) if latency > 1 else 0
            c.lat[i if i < BUCKETS else BUCKETS - 1] += 1
        elif kind == "ack":
            sent_us = self.pending.pop(event.get("id"), None)
            if sent_us is None:
                return
            c.acked += 1
            c.last_ack_us = now_us
            latency = now_us - sent_us
            i = int(_log(latency) * SCALE) if latency > 1 else 0
            c.ack[i if i < BUCKETS else BUCKETS - 1] += 1
            offset = event["offset"]
            if offset > c.room_max.get(self.room, 0):
                c.room_max[self.room] = offset
        else:
            rid = event.get("id")
            if kind == "error":
                c.errors[str(event.get("code"))] += 1
                if self.pending.pop(rid, None) is not None:  # type: ignore[arg-type]
                    return
            elif kind == "hello":
                rid = "hello"
            waiter = self.waiters.pop(rid, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(event)

    def on_closed(self) -> None:
        for waiter in self.waiters.values():
            if not waiter.done():
                waiter.set_exception(ConnectionError(f"closed ({self.close_code})"))
        self.waiters.clear()
        if self.joined:
            self.c.closed += 1
            self.c.close_codes[str(self.close_code or "dropped")] += 1

    # -- requests -----------------------------------------------------------------------------
    def wait_for(self, rid: Any) -> asyncio.Future[dict[str, Any]]:
        future = self.waiters[rid] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieve)  # a waiter abandoned after a timeout logs nothing
        return future

    async def request(self, event: dict[str, Any], timeout: float) -> dict[str, Any]:
        future = self.wait_for(event["id"])
        self.send_event(event)
        return await asyncio.wait_for(future, timeout)

    def send_event(self, event: dict[str, Any]) -> None:
        if self.json:
            self.send_frame(orjson.dumps(event), OP_TEXT)
        else:
            self.send_frame(msgpack.packb(event), OP_BINARY)

    def send_chat(self, now_us: int) -> bool:
        transport = self.transport
        if self.closed or transport is None or transport.get_write_buffer_size() > MAX_SEND_BUFFER:
            self.c.skipped += 1
            return False
        rid = self.next_id
        self.next_id = rid + 1
        self.pending[rid] = now_us
        if self.json:
            args = (rid, now_us, rid) if self._use_key else (rid, now_us)
            self.send_frame(self._template % args, OP_TEXT)
        else:
            event = {"type": "send", "id": rid, "room": self.room, "text": f"{now_us:016d} {self._pad}"}
            if self._use_key:
                event["key"] = f"k{rid}"
            self.send_frame(msgpack.packb(event), OP_BINARY)
        self.c.sent += 1
        return True


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class Worker:
    def __init__(self, index: int, pipe: Connection, config: dict[str, Any]):
        self.index = index
        self.pipe = pipe
        self.config = config
        self.c = Counters()
        self.clients: list[ChatClient] = []
        self.connect_errors: collections.Counter[str] = collections.Counter()
        self._base: dict[str, Any] = {}
        self._commands: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._wake = asyncio.Event()

    # -- plumbing ------------------------------------------------------------------------------
    # The pipe is read by a thread with blocking calls: polling its descriptor from the event loop
    # would make it non-blocking (libuv does), and large messages would then arrive torn.
    def _read_pipe(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            try:
                msg = self.pipe.recv()
            except (EOFError, OSError):  # the coordinator is gone: stop
                msg = {"cmd": "close", "orphan": True}
            self._commands.put(msg)
            try:
                loop.call_soon_threadsafe(self._wake.set)
            except RuntimeError:  # the loop is closed
                return
            if msg["cmd"] == "close":
                return

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        threading.Thread(target=self._read_pipe, args=(loop,), name="pipe-reader", daemon=True).start()
        ticker = asyncio.create_task(self._tick())
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while not self._commands.empty():
                    msg = self._commands.get()
                    if msg["cmd"] == "close":
                        await self.close()
                        if not msg.get("orphan"):
                            self._send({"kind": "reply", "cmd": "close"})
                        return
                    try:
                        reply = await getattr(self, "cmd_" + msg["cmd"])(**msg.get("args", {}))
                    except Exception:
                        reply = {"error": traceback.format_exc()}
                    self._send({"kind": "reply", "cmd": msg["cmd"], **reply})
        finally:
            ticker.cancel()

    def _send(self, msg: dict[str, Any]) -> None:
        try:
            self.pipe.send(msg)
        except (BrokenPipeError, OSError):
            pass

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            c = self.c
            self._send({"kind": "stats", "connected": c.connected, "closed": c.closed, "sent": c.sent,
                        "acked": c.acked, "delivered": c.delivered, "errors": sum(c.errors.values()),
                        "lost": c.lost, "lat": sparse(c.lat), "ack": sparse(c.ack)})

    # -- commands ------------------------------------------------------------------------------
    async def cmd_connect(self, conns: list[tuple[str, str, str, bool, int]]) -> dict[str, Any]:
        """Open ``(user, role, room, sender, node)`` connections: ``node`` indexes ``config["nodes"]``."""
        semaphore = asyncio.Semaphore(self.config["connect_concurrency"])
        heads: dict[str, int] = {}
        per_node = [0] * len(self.config["nodes"])
        senders_per_node = [0] * len(self.config["nodes"])

        async def one(spec: tuple[str, str, str, bool, int]) -> None:
            async with semaphore:
                for attempt in range(3):
                    try:
                        client, head = await self._open(*spec)
                    except Exception as exc:
                        if attempt == 2:
                            self.connect_errors[f"{type(exc).__name__}: {exc}"[:160]] += 1
                            return
                        await asyncio.sleep(0.2 * (attempt + 1))
                    else:
                        self.clients.append(client)
                        heads[client.room] = head
                        self.c.connected += 1
                        per_node[spec[4]] += 1
                        senders_per_node[spec[4]] += spec[3]
                        return

        started = time.monotonic()
        await asyncio.gather(*(one(tuple(spec)) for spec in conns))  # type: ignore[arg-type]
        # The connections live for the whole run: keep them out of garbage collections, whose full
        # passes over thousands of clients would otherwise show up as latency in the measurements.
        gc.collect()
        gc.freeze()
        return {"connected": self.c.connected, "failed": sum(self.connect_errors.values()),
                "connect_errors": dict(self.connect_errors), "heads": heads,
                "per_node": per_node, "senders_per_node": senders_per_node,
                "seconds": round(time.monotonic() - started, 3)}

    async def _open(self, user: str, role: str, room: str, sender: bool, node: int) -> tuple[ChatClient, int]:
        cfg = self.config
        host, port = cfg["nodes"][node]
        timeout = cfg["connect_timeout"]
        token = mint_token(secret=cfg["secret"], user_id=user, role=role, ttl_s=cfg["token_ttl"])
        loop = asyncio.get_running_loop()
        _, client = await asyncio.wait_for(loop.create_connection(
            lambda: ChatClient(self.c, host=f"{host}:{port}", token=token, room=room, sender=sender,
                               codec=cfg["codec"], text_size=cfg["text_size"], use_key=cfg["use_key"]),
            host, port), timeout)
        try:
            await asyncio.wait_for(client.opened, timeout)
            event = await asyncio.wait_for(client.hello, timeout)
            if event.get("type") != "hello":
                raise RuntimeError(f"no hello: {event.get('code')}")
            joined = await client.request({"type": "join", "id": "join", "room": room}, timeout)
            if joined.get("type") != "joined":
                raise RuntimeError(f"join {room}: {joined.get('code')}: {joined.get('message')}")
        except BaseException:
            client.abort()
            raise
        client.expected = joined["head"] + 1
        client.joined = True
        return client, joined["head"]

    def _begin_step(self) -> None:
        c = self.c
        c.lat = [0] * BUCKETS
        c.ack = [0] * BUCKETS
        times = os.times()
        self._base = {"sent": c.sent, "skipped": c.skipped, "acked": c.acked, "delivered": c.delivered,
                      "lost": c.lost, "duplicates": c.duplicates, "closed": c.closed,
                      "errors": collections.Counter(c.errors), "cpu": times.user + times.system}
        for client in self.clients:
            client.step_start = client.expected

    async def cmd_run(self, rate: float, duration: float, start_at: float, ack_timeout: float) -> dict[str, Any]:
        """Send ``rate`` messages per second round-robin over this worker's senders, then await the acks."""
        self._begin_step()
        loop = asyncio.get_running_loop()
        senders = [client for client in self.clients if client.sender and not client.closed]
        t0 = loop.time() + max(0.0, start_at - time.time())
        await asyncio.sleep(t0 - loop.time())
        end = t0 + duration
        count = len(senders)
        if rate > 0 and count:
            n = i = 0
            while (now := loop.time()) < end:
                due = min(int((now - t0) * rate) + 1 - n, 10_000)
                if due > 0:
                    now_us = time.time_ns() // 1000
                    for _ in range(due):
                        senders[i].send_chat(now_us)
                        i += 1
                        if i == count:
                            i = 0
                    n += due
                # At least a 1 ms tick (the loop's timer resolution): shorter sleeps would spin.
                wait = t0 + n / rate - loop.time()
                await asyncio.sleep(0.0 if wait <= -0.001 else min(0.05, max(0.001, wait)))
        deadline = loop.time() + ack_timeout
        while loop.time() < deadline:
            if not any(s.pending and not s.closed for s in senders):
                break
            await asyncio.sleep(0.01)
        unacked = 0
        for sender in senders:
            unacked += len(sender.pending)
            sender.pending.clear()
        return {"room_max": dict(self.c.room_max), "unacked": unacked}

    async def cmd_drain(self, final: dict[str, int], timeout: float) -> dict[str, Any]:
        """Wait until every connection has every offset up to ``final``; count what never came."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        behind = list(self.clients)
        while True:
            behind = [c for c in behind if not c.closed and c.expected <= final.get(c.room, 0)]
            if not behind or loop.time() >= deadline:
                break
            await asyncio.sleep(0.01)
        c = self.c
        expected = missing = 0
        for client in self.clients:
            head = final.get(client.room)
            if head is None:
                continue
            expected += max(0, head + 1 - client.step_start)
            if client.expected <= head:
                missing += head + 1 - client.expected
                client.expected = head + 1
        c.lost += missing
        base = self._base
        times = os.times()
        return {
            "sent": c.sent - base["sent"], "skipped": c.skipped - base["skipped"], "acked": c.acked - base["acked"],
            "delivered": c.delivered - base["delivered"], "expected": expected, "lost": c.lost - base["lost"],
            "duplicates": c.duplicates - base["duplicates"], "closed": c.closed - base["closed"],
            "errors": dict(c.errors - base["errors"]), "close_codes": dict(c.close_codes),
            "lat": sparse(c.lat), "ack": sparse(c.ack), "last_rx_us": c.last_rx_us, "last_ack_us": c.last_ack_us,
            "cpu_s": round(times.user + times.system - base["cpu"], 3), "open": sum(not x.closed for x in self.clients),
        }

    async def cmd_status(self) -> dict[str, Any]:
        return {"open": sum(not x.closed for x in self.clients), "closed": self.c.closed,
                "close_codes": dict(self.c.close_codes), "errors": dict(self.c.errors)}

    async def close(self) -> None:
        for client in self.clients:
            client.close()
        await asyncio.sleep(0.2)
        for client in self.clients:
            if client.transport is not None and not client.transport.is_closing():
                client.transport.abort()


def _raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def worker_main(index: int, pipe: Connection, config: dict[str, Any]) -> None:
    _raise_file_limit()
    try:
        import uvloop
        loop = uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(Worker(index, pipe, config).serve())
    except KeyboardInterrupt:
        pass
    finally:
        loop.close()
