"""A person's messages erased from a room's history (``DELETE /api/users/{id}/data``), the rule
both families apply: SQLite in Python (``sqlite_store``), Redis in ``lua/erase_stream.lua``.

- A message the person wrote becomes a *tombstone*: same room, offset and time (offsets stay
  continuous: a client resuming across the erasure is neither told of a gap nor sent the text),
  sender ``ERASED_SENDER``, no name, ``TOMBSTONE_TEXT``, no idempotency key, ``data`` =
  ``{"erased": true}``.
- A workflow notice (sender ``system``) quoting the person's words (a callback's reason,
  ``workflow.callbacks.quoted``) keeps its place and the rest of its text; each quote becomes
  ``SCRUBBED``.
- Every other message (the other party's) is left as it is.

``ERASED_SENDER`` starts with ``*``, never in a user id (``ids.USER_ID``): no one can post as it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from .base import StoredMessage

__all__ = ["ERASED_DATA", "ERASED_SENDER", "SCRUBBED", "TOMBSTONE_TEXT", "erased_message"]

ERASED_SENDER = "*erased"
TOMBSTONE_TEXT = "Message effacé"
SCRUBBED = "« [effacé] »"
ERASED_DATA = {"erased": True}
NOTICE_SENDER = "system"  # workflow.notify.SYSTEM_SENDER (the workflow imports backends, not the reverse)


def erased_message(message: StoredMessage, user_id: str, scrub: Sequence[str]) -> StoredMessage | None:
    """The message as it must be stored once ``user_id`` is erased; None when it stays as it is."""
    if message.sender == user_id:
        return dataclasses.replace(message, sender=ERASED_SENDER, name="", text=TOMBSTONE_TEXT, key=None,
                                   data=dict(ERASED_DATA))
    if message.sender == NOTICE_SENDER and scrub:
        text = message.text
        for quote in scrub:
            if quote:
                text = text.replace(quote, SCRUBBED)
        if text != message.text:
            return dataclasses.replace(message, text=text)
    return None
