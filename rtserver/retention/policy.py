"""What the retention sweep deletes, as pure arithmetic: no clock, no store, no asyncio.

Each kind of personal data has a ``Rule``: how long it is kept (``keep_s``; 0 keeps it forever)
and from which moment that time counts (its ``Anchor``: when it was created, or for an
appointment the time it was for). An item is *due* once ``anchor_ms < cutoff_ms(rule, now_ms)``.

Chat messages are numbered per room and resumed by offset, so they are deleted as a *prefix*: the
oldest messages of a room, up to the first one that is not due (``due_prefix``). With a server
clock that never goes back this is exactly "every due message"; after a clock step back, a due
message behind a newer-stamped one waits until that one is due too, so a sweep never deletes a
message that is not due and never leaves a hole inside what it keeps.

A pass over one kind is bounded (``PassBudget``): at most ``max_batches`` store calls of at most
``batch`` items each, so one pass never holds a store for long; what it leaves is *overdue*
(``overdue_s``) and is taken by the next pass.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping

from ..reaping import Kind, due_prefix

__all__ = ["Anchor", "Kind", "PassBudget", "Rule", "cutoff_ms", "due_prefix", "is_due", "overdue_s"]


class Anchor(enum.StrEnum):
    CREATED = "created"  # from the moment the item was written
    SCHEDULED = "scheduled"  # from the time it was for: an appointment's start


@dataclasses.dataclass(frozen=True, slots=True)
class Rule:
    kind: Kind
    keep_s: float  # 0: kept forever
    anchor: Anchor

    def __post_init__(self) -> None:
        if self.keep_s < 0:
            raise ValueError(f"the retention of {self.kind} must be 0 (forever) or more, not {self.keep_s}")

    @property
    def forever(self) -> bool:
        return self.keep_s == 0


def cutoff_ms(rule: Rule, now_ms: int) -> int | None:
    """Items whose anchor is strictly before this are due; None when the kind is kept forever."""
    return None if rule.forever else now_ms - int(rule.keep_s * 1000)


def is_due(rule: Rule, anchor_ms: int, now_ms: int) -> bool:
    cutoff = cutoff_ms(rule, now_ms)
    return cutoff is not None and anchor_ms < cutoff


def overdue_s(oldest_anchor_ms: int | None, cutoff: int | None) -> float:
    """How long the oldest item still held has been due (0 when nothing held is due)."""
    if oldest_anchor_ms is None or cutoff is None or oldest_anchor_ms >= cutoff:
        return 0.0
    return (cutoff - oldest_anchor_ms) / 1000


@dataclasses.dataclass(frozen=True, slots=True)
class PassBudget:
    """One pass over one kind: at most ``batch`` items per store call (one short transaction, or a
    Lua call per key), at most ``max_batches`` calls, ``pause_s`` between two calls (the chat's
    writes go first). A pass that stops before its walk of the store is over leaves its cursor
    for the next one, so a store larger than one pass is still walked whole."""

    batch: int
    max_batches: int
    pause_s: float

    def __post_init__(self) -> None:
        if self.batch < 1 or self.max_batches < 1 or self.pause_s < 0:
            raise ValueError("retention_batch and retention_max_batches must be at least 1, "
                             "retention_batch_pause_s at least 0")


def rules_from_days(days: Mapping[Kind, float], anchors: Mapping[Kind, Anchor]) -> dict[Kind, Rule]:
    """Rules from retentions in days (0: forever)."""
    return {kind: Rule(kind, float(d) * 86_400, anchors[kind]) for kind, d in days.items()}
