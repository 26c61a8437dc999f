"""The hub's ordering rules, driven directly with a broker whose subscription the test holds back."""

from __future__ import annotations

import asyncio

from rtserver.backends import LocalBroker, MemberRole, RoomKind
from rtserver.metrics import Metrics
from rtserver.node.hub import Hub


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
