"""What a store implements to have its personal data deleted by the retention sweep
(``rtserver/retention``): the kinds of data, the ``Reaper`` a store hands for each kind it holds,
and the ``Claim`` that lets one node sweep a kind at a time. Below the stores, so that a store
implements it without importing the sweep (docs/architecture.md, Layers)."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

__all__ = ["Claim", "FnReaper", "Kind", "LocalClaim", "Reaper", "due_prefix"]


class Kind(enum.StrEnum):
    """The kinds of data the sweep deletes. The access journal (``rtserver/audit``) joins as one
    more kind: a rule here and a reaper in its store."""

    MESSAGES = "messages"
    IDEMPOTENCY_KEYS = "idempotency_keys"
    PRECALL_RESULTS = "precall_results"
    CALLBACKS = "callbacks"
    APPOINTMENTS = "appointments"
    WEBHOOK_OUTBOX = "webhook_outbox"
    INTERVIEW_OUTCOMES = "interview_outcomes"


def due_prefix(anchors: Sequence[int], cutoff: int) -> int:
    """How many of ``anchors`` (a room's oldest messages, in offset order) form the due prefix."""
    for i, anchor in enumerate(anchors):
        if anchor >= cutoff:
            return i
    return len(anchors)


class Reaper(Protocol):
    async def delete_due(self, cutoff_ms: int, limit: int, cursor: str) -> tuple[int, str | None]:
        """Delete at most ``limit`` items anchored before ``cutoff_ms``, walking from ``cursor``;
        (how many were deleted, the cursor to go on from or None when the walk is over)."""

    async def oldest_ms(self) -> int | None:
        """The anchor of the oldest item still held (None: nothing held)."""


class FnReaper:
    """A ``Reaper`` from a store's two methods (or closures); ``oldest`` defaults to None."""

    def __init__(self, delete: Callable[[int, int, str], Awaitable[tuple[int, str | None]]],
                 oldest: Callable[[], Awaitable[int | None]] | None = None):
        self._delete, self._oldest = delete, oldest

    async def delete_due(self, cutoff_ms: int, limit: int, cursor: str) -> tuple[int, str | None]:
        return await self._delete(cutoff_ms, limit, cursor)

    async def oldest_ms(self) -> int | None:
        return None if self._oldest is None else await self._oldest()


class Claim(Protocol):
    async def claim(self, kind: str, lease_ms: int) -> bool:
        """True for one node per lease: that node sweeps ``kind`` now."""


class LocalClaim:
    """One node (the SQLite family): always its turn."""

    async def claim(self, kind: str, lease_ms: int) -> bool:
        return True
