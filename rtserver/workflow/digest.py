"""Offline mail digests: one mail listing the unread messages of a user who stayed away.

When a message (or a workflow notice: callback, appointment) reaches a user who is offline and
has an address, ``Notifier.reached`` sets their digest timer ``digest_delay_s`` ahead, keeping
an earlier one: a burst of messages makes one mail, not one per message. When the timer is due
(claimed by exactly one node), the user gets a mail only if they are still offline and still
have unread messages that no earlier digest listed; reading them in the meantime cancels the
mail. A failed SMTP exchange sets the timer again one delay later. Replies are made on the web.

What the mail says (``mail_content``): by default only how many unread messages wait, with no
name and no text, because a mailbox is outside the service's control (forwarded, shared, read on
a phone's lock screen, kept by the mail provider) and jobseekers write about health, money and
family. ``preview`` adds, for each message, its sender's name and its first ``PREVIEW_CHARS``
characters: enough to recognise a message, never the 4,000 characters one may hold.
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

__all__ = ["PREVIEW_CHARS", "DigestService", "preview", "render"]

log = logging.getLogger(__name__)
MAX_ROOMS = 500


# A text message's length (160): a sentence or two, a fraction of max_text_chars (4,000).
PREVIEW_CHARS = 160


def preview(text: str) -> str:
    """The start of a message for a digest: one line, at most PREVIEW_CHARS characters."""
    line = " ".join(text.split())
    return line if len(line) <= PREVIEW_CHARS else line[:PREVIEW_CHARS - 1].rstrip() + "…"


def render(name: str, messages: list[StoredMessage], *, with_preview: bool = False) -> tuple[str, str]:
    """Subject and plain-text body of a digest: how many messages wait, and (``with_preview``)
    who wrote each and how it starts."""
    count = len(messages)
    if not with_preview:
        lines = ["Bonjour,", "", f"Vous avez {count} message(s) non lu(s) dans votre suivi en ligne."]
    else:
        lines = [f"Bonjour {name},", "", f"Vous avez {count} message(s) non lu(s) dans votre suivi en ligne :", ""]
        lines += [f"- {m.name} : {preview(m.text)}" for m in messages]
    lines += ["", "Pour les lire et y répondre, connectez-vous à votre espace de suivi en ligne (les réponses par "
              "mail ne sont pas lues)."]
    return f"{count} nouveau(x) message(s) de votre suivi", "\n".join(lines) + "\n"


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
        subject, body = render(user.name, messages, with_preview=self._config.mail_preview)
        if not await self._mailer.send(user.email, subject, body):
            await self._store.schedule(TimerKind.DIGEST, user_id, now_ms() + self._config.digest_delay_ms,
                                       keep_earlier=True)
            return False
        await self._store.set_digest_marks(user_id, marks)
        return True
