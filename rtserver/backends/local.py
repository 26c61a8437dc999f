"""In-process fan-out and presence: the embedded default, for a single node."""

from __future__ import annotations

import builtins
from collections import defaultdict
from typing import Any

from ..errors import Unavailable
from ..protocol.requests import Availability, PresenceStatus
from .base import BrokerHandler, NodeMessageHandler, PresenceInfo

__all__ = ["LocalBroker", "LocalMediaDirectory", "LocalPresence"]


class LocalBroker:
    """Delivers a published event straight to this node's handler: there is no other node."""

    def __init__(self) -> None:
        self._handler: BrokerHandler | None = None
        self._inboxes: dict[str, NodeMessageHandler] = {}

    async def start(self, handler: BrokerHandler) -> None:
        self._handler = handler

    async def close(self) -> None:
        self._handler = None

    async def subscribe(self, room_id: str) -> None:
        return None

    async def unsubscribe(self, room_id: str) -> None:
        return None

    async def publish(self, room_id: str, event: dict[str, Any]) -> None:
        if self._handler is not None:
            self._handler.on_room_event(room_id, event)

    async def listen_node(self, node_id: str, handler: NodeMessageHandler) -> None:
        self._inboxes[node_id] = handler

    async def send_to_node(self, node_id: str, message: dict[str, Any]) -> None:
        handler = self._inboxes.get(node_id)
        if handler is None:
            raise Unavailable(f"node {node_id} is not reachable")
        handler(message)


class LocalMediaDirectory:
    """One node holds every media room (there is no other)."""

    def __init__(self) -> None:
        self._owners: dict[str, str] = {}

    async def claim(self, room_id: str, node_id: str) -> str:
        return self._owners.setdefault(room_id, node_id)

    async def owner(self, room_id: str) -> str | None:
        return self._owners.get(room_id)

    async def renew(self, node_id: str, room_ids: list[str]) -> list[str]:
        return [room for room in room_ids if self._owners.get(room) != node_id]

    async def release(self, node_id: str, room_ids: list[str]) -> None:
        for room in room_ids:
            if self._owners.get(room) == node_id:
                del self._owners[room]


class LocalPresence:
    def __init__(self) -> None:
        self._entries: dict[str, dict[str, PresenceStatus]] = defaultdict(dict)
        self._availability: dict[str, Availability] = {}

    async def set(self, user_id: str, conn_id: str, status: PresenceStatus) -> None:
        self._entries[user_id][conn_id] = status

    async def remove(self, user_id: str, conn_id: str) -> None:
        conns = self._entries.get(user_id)
        if conns is not None:
            conns.pop(conn_id, None)
            if not conns:
                del self._entries[user_id]

    async def set_availability(self, user_id: str, availability: Availability | None) -> None:
        if availability is None:
            self._availability.pop(user_id, None)
        else:
            self._availability[user_id] = availability

    async def get(self, user_ids: list[str]) -> dict[str, PresenceInfo]:
        return {user: aggregate(self._entries.get(user, {}).values(), self._availability.get(user))
                for user in user_ids}

    async def nodes_of(self, user_id: str) -> builtins.set[str]:  # (the class has a method named set)
        self._availability.pop(user_id, None)
        return set()  # one node: every connection is this node's

    async def close(self) -> None:
        self._entries.clear()


def aggregate(statuses: Any, availability: Availability | None) -> PresenceInfo:
    """Online if any connection is online, away if all are away, offline when none is left."""
    seen = set(statuses)
    if PresenceStatus.ONLINE in seen:
        status = PresenceStatus.ONLINE
    elif seen:
        status = PresenceStatus.AWAY
    else:
        return PresenceInfo(PresenceStatus.OFFLINE, availability)
    return PresenceInfo(status, availability)
