"""The hub's ordering rules, driven directly with a broker whose subscription the test holds back, and its
fan-out to members whose sockets are gone."""

from __future__ import annotations

import asyncio
import time

import pytest

from rtserver.auth import Identity, Role
from rtserver.backends import LocalBroker, MemberRole, RoomKind
from rtserver.delivery.connection import Connection
from rtserver.delivery.hub import Hub
from rtserver.metrics import Metrics
from rtserver.protocol import JSON


class GatedBroker(LocalBroker):
    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.subscribes = 0

    async def subscribe(self, room_id: str) -> None:
        self.subscribes += 1
        await self.gate.wait()


class Conn:
    def __init__(self) -> None:
        self.rooms: dict = {}


async def test_every_joiner_waits_for_the_rooms_subscription():
    broker = GatedBroker()
    hub = Hub(store=None, broker=broker, metrics=Metrics())  # type: ignore[arg-type]
    first = asyncio.ensure_future(hub.attach(Conn(), "r", RoomKind.GROUP, MemberRole.MEMBER))  # type: ignore[arg-type]
    second = asyncio.ensure_future(hub.attach(Conn(), "r", RoomKind.GROUP, MemberRole.MEMBER))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not first.done() and not second.done(), "a joiner went on before the node was subscribed"
    broker.gate.set()
    await asyncio.wait_for(asyncio.gather(first, second), 1)
    assert broker.subscribes == 1, "one subscription per room, not per joiner"
    assert len(hub.rooms["r"].members) == 2


async def test_a_failed_subscription_fails_the_waiting_joiners_and_is_retried():
    class FailingOnce(GatedBroker):
        async def subscribe(self, room_id: str) -> None:
            self.subscribes += 1
            await self.gate.wait()
            if self.subscribes == 1:
                raise ConnectionError("broker down")

    broker = FailingOnce()
    hub = Hub(store=None, broker=broker, metrics=Metrics())  # type: ignore[arg-type]
    a, b = Conn(), Conn()
    first = asyncio.ensure_future(hub.attach(a, "r", RoomKind.GROUP, MemberRole.MEMBER))  # type: ignore[arg-type]
    second = asyncio.ensure_future(hub.attach(b, "r", RoomKind.GROUP, MemberRole.MEMBER))  # type: ignore[arg-type]
    await asyncio.sleep(0)
    broker.gate.set()
    results = await asyncio.gather(first, second, return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    await hub.attach(Conn(), "r", RoomKind.GROUP, MemberRole.MEMBER)  # type: ignore[arg-type]
    assert broker.subscribes == 2


# -- fan-out when a member's socket is gone ---------------------------------------------------------
class FakeTransport:
    """What the node writes to. ``gone`` behaves as uvloop's transport once the socket is closed:
    ``write`` raises RuntimeError (asyncio's drops the bytes and warns)."""

    def __init__(self, *, gone: bool = False, says_closing: bool = True) -> None:
        self.frames: list[bytes] = []
        self.gone = gone
        self.says_closing = says_closing  # False: the close is noticed only by write raising

    def write(self, data: bytes) -> None:
        if self.gone:
            raise RuntimeError("unable to perform operation on <TCPTransport closed=True>; the handler is closed")
        self.frames.append(data)

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return self.gone and self.says_closing


def _connection(transport: FakeTransport, user: str) -> Connection:
    conn = Connection(None, transport, JSON, max_outgoing_bytes=1 << 20,  # type: ignore[arg-type]
                      on_close=lambda c, code: None, node_id="n")
    conn.identity = Identity(user_id=user, role=Role.JOBSEEKER, name=user, expires_at=time.time() + 600)
    return conn


async def _room_of(hub: Hub, transports: list[FakeTransport]) -> list[Connection]:
    conns = [_connection(t, f"u{i}") for i, t in enumerate(transports)]
    for conn in conns:
        hub.add_connection(conn)
        await hub.attach(conn, "big", RoomKind.GROUP, MemberRole.MEMBER)
        hub.caught_up(conn, "big", head=0, replayed_to=0)
    return conns


@pytest.mark.parametrize("says_closing", [True, False], ids=["closed", "write-raises"])
async def test_a_member_whose_socket_closed_does_not_stop_the_fan_out(says_closing):
    hub = Hub(store=None, broker=LocalBroker(), metrics=Metrics())  # type: ignore[arg-type]
    transports = [FakeTransport() for _ in range(200)]
    conns = await _room_of(hub, transports)
    transports[100].gone = True  # the page closed while the event was on its way
    transports[100].says_closing = says_closing
    hub.on_room_event("big", {"type": "presence", "user": "u0", "status": "away"})
    hub.on_room_event("big", {"type": "message", "room": "big", "offset": 1, "ts": time.time() * 1000,
                              "text": "hi"})
    others = [t for i, t in enumerate(transports) if i != 100]
    assert all(len(t.frames) == 2 for t in others), "a member after the closed one missed an event"
    assert conns[100].closed, "no later event tries the closed member's socket"
    assert len(transports[100].frames) == 0


async def test_flushing_a_backlog_to_a_closed_socket_does_not_raise():
    hub = Hub(store=None, broker=LocalBroker(), metrics=Metrics())  # type: ignore[arg-type]
    transport = FakeTransport()
    conn = _connection(transport, "u")
    await hub.attach(conn, "r", RoomKind.GROUP, MemberRole.MEMBER)
    hub.on_room_event("r", {"type": "typing", "room": "r", "user": "x", "active": True})  # held: catching up
    transport.gone = True
    hub.caught_up(conn, "r", head=0, replayed_to=0)
    assert conn.closed


async def test_a_closed_member_does_not_fail_the_senders_request(harness):
    """Over a real node: one member's socket is gone (its transport raising as uvloop's does) right
    before a presence update and a message are fanned out; the sender's requests succeed and every
    other member receives both."""
    members = {f"m{i}": "member" for i in range(6)}
    await harness.room("grp", members)
    clients = [await harness.client(user) for user in members]
    for client in clients:
        await client.join("grp")
    victim = next(c for c in harness.node.connections if c.identity.user_id == "m3")
    victim._transport = FakeTransport(gone=True, says_closing=False)
    sender = clients[0]
    await sender.set_presence(status="away")
    ack = await sender.send("grp", "still delivered")
    assert ack["type"] == "ack"
    for client in clients[1:]:
        if client is clients[3]:
            continue
        await client.next_event("presence", timeout=5, where=lambda e: e.get("user") == "m0")
        message = await client.next_event("message", timeout=5)
        assert message["text"] == "still delivered"
    assert victim.closed
