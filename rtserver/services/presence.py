"""Presence: online / away / offline per user, and advisors' availability.

A user is online while any of their connections is online, away when all are away, offline
when the last one closes. Changes are published to the rooms the user shares with others
(conversations and groups; broadcast rooms would turn one change into thousands of events).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ..auth import Role
from ..backends import Broker, PresenceBackend, PresenceInfo, RoomKind, Store
from ..delivery.connection import Connection
from ..errors import Forbidden
from ..protocol import Availability, PresenceStatus, events

__all__ = ["PresenceService"]

MAX_ROOMS_NOTIFIED = 1000


class PresenceService:
    def __init__(self, *, store: Store, broker: Broker, presence: PresenceBackend):
        self._store = store
        self._broker = broker
        self._presence = presence

    async def connected(self, conn: Connection) -> None:
        await self._change(conn.user_id, lambda: self._presence.set(conn.user_id, conn.id, PresenceStatus.ONLINE))

    async def disconnected(self, conn: Connection) -> None:
        await self._change(conn.user_id, lambda: self._presence.remove(conn.user_id, conn.id))

    async def set_status(self, conn: Connection, status: PresenceStatus | None,
                         availability: Availability | None) -> None:
        assert conn.identity is not None
        if availability is not None and conn.identity.role is not Role.ADVISOR:
            raise Forbidden("only advisors set an availability")

        async def apply() -> None:
            if status is not None:
                await self._presence.set(conn.user_id, conn.id, status)
            if availability is not None:
                await self._presence.set_availability(conn.user_id, availability)

        await self._change(conn.user_id, apply)

    async def snapshot(self, user_ids: list[str]) -> dict[str, dict[str, str]]:
        found = await self._presence.get(user_ids)
        return {user: info.to_dict() for user, info in found.items()}

    async def _change(self, user_id: str, update: Callable[[], Awaitable[Any]]) -> None:
        """Apply ``update`` and announce the change. The update is started only here: a coroutine
        made before the read of ``before`` was never awaited when that read failed or was
        cancelled (a connection closing as the node shut down), and Python warned of it."""
        before = (await self._presence.get([user_id]))[user_id]
        await update()
        after = (await self._presence.get([user_id]))[user_id]
        if after != before:
            await self._announce(user_id, after)

    async def _announce(self, user_id: str, info: PresenceInfo) -> None:
        for summary in await self._store.rooms_of(user_id, limit=MAX_ROOMS_NOTIFIED):
            if summary.kind is RoomKind.BROADCAST:
                continue
            event = events.presence(summary.room, user_id, **info.to_dict())
            await self._broker.publish(summary.room, event)
