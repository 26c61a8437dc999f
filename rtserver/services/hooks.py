"""The chat's extension points: what a feature may run around a send and after a removal.

They belong to the chat (``services/chat.py`` runs them); ``rtserver/feature.py`` gathers them
from every feature at composition into one ``ChatHooks``."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..backends import StoredMessage
    from ..delivery.connection import Connection
    from ..protocol import Send

__all__ = ["AfterSend", "BeforeSend", "ChatHooks", "MemberRemoved"]

BeforeSend = Callable[["Connection", "Send"], Awaitable[None]]
"""Awaited before a chat message is stored; raises an ``RtError`` to refuse it."""
AfterSend = Callable[["Connection", "Send", "StoredMessage"], None]
"""Called once a new (not duplicate) message is stored and fanned out; must not block the send."""
MemberRemoved = Callable[[str, str], Awaitable[None]]
"""Awaited with ``(room, user)`` after a member was removed from a chat room."""


@dataclasses.dataclass(frozen=True, slots=True)
class ChatHooks:
    """The chat's extension points, gathered from every feature at composition."""

    before_send: tuple[BeforeSend, ...] = ()
    after_send: tuple[AfterSend, ...] = ()
    member_removed: tuple[MemberRemoved, ...] = ()
