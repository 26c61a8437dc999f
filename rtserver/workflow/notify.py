"""How the workflow tells people: live events, notices in the conversation, digests scheduled.

- ``live``: a non-stored event published into the follow-up room through the broker, so it
  reaches the advisor's and the jobseeker's connections joined to the room on every node (as
  typing events do). Missed live events are not replayed; the notice and the request's state
  (``callbacks``, ``appointments``) are what a client reloads.
- ``notice``: a stored message from ``system`` in the conversation ("callback claimed",
  "appointment on ..."), so the follow-up journal is the conversation itself, is exported with
  it, and reaches an offline user in their digest like any message.
- ``reached``: a message reached the room; each other member who is offline and has an e-mail
  address gets a digest timer (the earliest one stays: not one mail per message).
"""

from __future__ import annotations

import time
from typing import Any

from ..backends import Broker, PresenceBackend, Store
from ..backends.base import StoredMessage
from ..protocol.requests import PresenceStatus
from .settings import WorkflowConfig
from .store import TimerKind, WorkflowStore

__all__ = ["SYSTEM_NAME", "SYSTEM_SENDER", "Notifier", "now_ms"]

SYSTEM_SENDER = "system"
SYSTEM_NAME = "Suivi"


def now_ms() -> int:
    return int(time.time() * 1000)


class Notifier:
    def __init__(self, *, store: WorkflowStore, chat_store: Store, broker: Broker, presence: PresenceBackend,
                 config: WorkflowConfig):
        self._store = store
        self._chat = chat_store
        self._broker = broker
        self._presence = presence
        self._config = config

    async def live(self, room: str, event: dict[str, Any]) -> None:
        """Publish ``event`` (built by ``rtserver.protocol.events``, naming ``room``) into the room."""
        await self._broker.publish(room, event)

    async def notice(self, room: str, text: str, *, actor: str | None = None,
                     data: dict[str, Any] | None = None) -> StoredMessage:
        """Store a system message in the conversation, fan it out, and schedule digests. ``data``
        is what the notice is about, for pages to write it themselves (an appointment's instant)."""
        result = await self._chat.append(room, sender=SYSTEM_SENDER, name=SYSTEM_NAME, text=text, key=None,
                                         ts_ms=now_ms(), data=data)
        await self._broker.publish(room, result.message.to_event())
        if actor is not None:  # whoever caused it has seen it
            await self._chat.set_read(room, actor, result.message.offset)
        await self.reached(room, sender=actor or SYSTEM_SENDER)
        return result.message

    async def reached(self, room: str, *, sender: str) -> None:
        members = [u for u in await self._chat.members(room) if u != sender]
        if not members:
            return
        presence = await self._presence.get(members)
        offline = [u for u in members if u not in presence or presence[u].status is PresenceStatus.OFFLINE]
        if not offline:
            return
        users = await self._store.get_users(offline)
        due = now_ms() + self._config.digest_delay_ms
        for user_id in offline:
            if user_id in users and users[user_id].email:
                await self._store.schedule(TimerKind.DIGEST, user_id, due, keep_earlier=True)
