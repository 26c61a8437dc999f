"""What a service records into the access journal through (``rtserver/audit`` keeps it): the kinds
of access, the ``Journal`` interface and the journal that records nothing. Below the services, so
that the chat and the media record without importing the journal itself (docs/architecture.md,
Layers)."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Protocol

__all__ = ["NO_JOURNAL", "AccessKind", "Caller", "Journal", "NullJournal"]


class AccessKind(enum.StrEnum):
    CONVERSATION_JOIN = "conversation.join"  # joined the follow-up room (the join replays missed messages)
    CONVERSATION_HISTORY = "conversation.history"  # a page of the room's history
    CONVERSATION_EXPORT = "conversation.export"  # the portal exported the conversation (HTTP)
    PORTFOLIO_READ = "portfolio.read"  # an advisor's portfolio listed: one entry per jobseeker in it
    INTERVIEW_JOIN = "interview.join"  # media_join of the follow-up's interview
    TRANSFER = "followup.transfer"  # the follow-up moved to another advisor (who then reads the history)
    PERSON_EXPORT = "person.export"  # everything held about the person, exported (GET /api/users/{id}/data)
    PERSON_ERASURE = "person.erasure"  # the person's data erased (DELETE /api/users/{id}/data)



class Caller(Protocol):
    """A WebSocket on this node, or one on another node reaching the interview hosted here."""
    id: str

    @property
    def user_id(self) -> str: ...


class Journal(Protocol):
    async def room(self, kind: AccessKind, conn: Caller, room_id: str, request_id: object) -> None: ...

    async def record(self, kind: AccessKind, subjects: Iterable[str], *, actor: str, request: str,
                     detail: Mapping[str, str] | None = None) -> None: ...


class NullJournal:
    """What services hold until ``install_audit`` gives them the node's journal (unit tests of a
    service alone). A node built by ``build_app`` always has the real one."""

    async def room(self, kind: AccessKind, conn: Caller, room_id: str, request_id: object) -> None:
        return None

    async def record(self, kind: AccessKind, subjects: Iterable[str], *, actor: str, request: str,
                     detail: Mapping[str, str] | None = None) -> None:
        return None


NO_JOURNAL = NullJournal()
