"""Offline mail digests: one mail listing the unread messages of a user who stayed away.

When a message (or a workflow notice: callback, appointment) reaches a user who is offline and
has an address, ``Notifier.reached`` sets their digest timer ``digest_delay_s`` ahead, keeping
an earlier one: a burst of messages makes one mail, not one per message. When the timer is due
(claimed by exactly one node), the user gets a mail only if they are still offline and still
have unread messages that no earlier digest listed; reading them in the meantime cancels the
mail. A failed SMTP exchange sets the timer again one delay later. Replies are made on the web.
"""

from __future__ import annotations

import logging

from ..backends import PresenceBackend, RoomKind, Store
from ..backends.base import StoredMessage
from ..protocol.requests import PresenceStatus
from .mail import Mailer
from .notify import now_ms
from .settings import WorkflowConfig
from .store import TimerKind, WorkflowStore

__all__ = ["DigestService", "render"]

log = logging.getLogger(__name__)
MAX_ROOMS = 500


def render(name: str, messages: list[StoredMessage]) -> tuple[str, str]:
    """Subject and plain-text body of a digest."""
    lines = [f"Bonjour {name},", "", f"Vous avez {len(messages)} message(s) non lu(s) dans votre suivi en ligne :", ""]
    for m in messages:
        lines.append(f"- {m.name} : {m.text}")
    lines += ["", "Pour répondre, connectez-vous à votre espace de suivi en ligne (les réponses par mail ne sont "
              "pas lues)."]
    return f"{len(messages)} nouveau(x) message(s) de votre suivi", "\n".join(lines) + "\n"


class DigestService:
    def __init__(self, *, store: WorkflowStore, chat_store: Store, presence: PresenceBackend, mailer: Mailer,
                 config: WorkflowConfig):
        self._store = store
        self._chat = chat_store
        self._presence = presence
        self._mailer = mailer
        self._config = config

    async def unread_for(self, user_id: str) -> tuple[list[StoredMessage], dict[str, int]]:
        """Unread messages no digest listed yet (oldest first, capped), and the marks to record."""
        marks = await self._store.digest_marks(user_id)
        messages: list[StoredMessage] = []
        new_marks: dict[str, int] = {}
        budget = self._config.digest_max_messages
        for summary in await self._chat.rooms_of(user_id, limit=MAX_ROOMS):
            if summary.kind is RoomKind.BROADCAST or summary.unread == 0 or budget <= 0:
                continue
            start = max(summary.read, marks.get(summary.room, 0))
            if start >= summary.head:
                continue
            page = await self._chat.read_after(summary.room, start, budget)
            page = [m for m in page if m.sender != user_id]
            if page:
                messages += page
                budget -= len(page)
                new_marks[summary.room] = page[-1].offset
        messages.sort(key=lambda m: m.ts_ms)
        return messages, new_marks

    async def send(self, user_id: str) -> bool:
        """The digest timer fired: mail the user if they are away and still have unread messages."""
        user = (await self._store.get_users([user_id])).get(user_id)
        if user is None or not user.email:
            return False
        info = (await self._presence.get([user_id])).get(user_id)
        if info is not None and info.status is not PresenceStatus.OFFLINE:
            return False  # back in the app: the unread counts show it all
        messages, marks = await self.unread_for(user_id)
        if not messages:
            return False
        subject, body = render(user.name, messages)
        if not await self._mailer.send(user.email, subject, body):
            await self._store.schedule(TimerKind.DIGEST, user_id, now_ms() + self._config.digest_delay_ms,
                                       keep_earlier=True)
            return False
        await self._store.set_digest_marks(user_id, marks)
        return True
