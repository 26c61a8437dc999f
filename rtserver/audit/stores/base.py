"""The access journal on SQLite (the embedded default) and on Redis (several nodes).

Both keep, per subject, a stream of entries chained by hash (rtserver.audit.chain) and a head
record: the anchor (first seq kept, the ``prev`` it must carry) and the head (last seq, its hash).
Appending is atomic per entry and checks the head, so two nodes recording accesses to the same
person never fork the chain:

- SQLite: one ``BEGIN IMMEDIATE`` transaction reads the head, links the entry, writes both
  (the file's write lock serialises writers, in this process or another);
- Redis: the node links the entry against the head it believes current and a Lua script stores
  it only if the head is still that one; if not, the script answers the current head and the node
  links again (``MAX_TRIES`` rounds). Heads are cached (``HEAD_CACHE`` subjects), so an append is
  one round trip unless another node wrote for that person in between. The hash is computed by
  the node, in SHA-256: Redis scripts only offer SHA-1.

Every entry also gets a store-wide number ``n`` (SQLite rowid, Redis counter), used only to order
entries recorded in the same millisecond: queries return entries by ``(ts, n)`` and page with
that pair as the cursor.

Retention (``sweep``) deletes each stream's expired prefix in batches of at most ``batch``
entries per transaction (SQLite) or script (Redis), and moves the anchor; a stream left empty is
removed with its head record (a later access starts a new chain).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from ..chain import Access, Anchor, Entry

__all__ = ["SUBJECTS_PAGE", "SWEEP_BATCH", "AuditStore", "Cursor", "Page", "Stream", "dump_entry", "load_entry",
           "readable_prefix"]

SWEEP_BATCH = 1000  # entries deleted per transaction or script: ~1-3 ms of Redis time, bounded
SUBJECTS_PAGE = 500  # subjects read per round trip by verify
Cursor = tuple[int, int]  # (ts_ms, n) of the last entry of a page


@dataclasses.dataclass(frozen=True, slots=True)
class Page:
    entries: list[Entry]
    next: Cursor | None  # where the next page starts; None: nothing more


@dataclasses.dataclass(frozen=True, slots=True)
class Stream:
    """One subject's stream as stored, for verification: its head record (None when missing)
    and its entries in stored order (a ``ValueError`` for an entry that could not be read)."""
    subject: str
    anchor: Anchor | None
    entries: list[Entry | ValueError]


def dump_entry(entry: Entry) -> str:
    return json.dumps(entry.to_dict(), separators=(",", ":"), ensure_ascii=False)


def load_entry(data: str | bytes | None) -> Entry | ValueError:
    if data is None:
        return ValueError("the entry is missing")
    try:
        return Entry.load(data)
    except ValueError as exc:
        return exc


def readable_prefix(items: Sequence[Entry | ValueError]) -> list[Entry]:
    out = []
    for item in items:
        if isinstance(item, ValueError):
            break  # never swept: left for verify to report
        out.append(item)
    return out


class AuditStore(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def append(self, accesses: Sequence[Access]) -> list[Entry]:
        """Chain and store each access at the head of its subject's stream, in order; raises
        ``Unavailable`` if the store cannot (then some of them may have been stored)."""

    async def query(self, *, subject: str | None, actor: str | None, since: int, after: Cursor | None,
                    limit: int) -> Page:
        """Entries recorded at or after ``since`` (ms), of one subject and/or one actor (or all),
        ordered by (ts, n), starting after ``after``; at most ``limit`` per page."""

    async def sweep(self, before_ms: int, *, batch: int = SWEEP_BATCH) -> int:
        """Delete up to about ``batch`` entries recorded before ``before_ms`` (each stream's
        expired prefix); how many went (0: nothing left to delete)."""

    def subjects(self) -> AsyncIterator[list[str]]:
        """Every subject with a stream, a page at a time (for verify)."""

    async def streams(self, subjects: Sequence[str]) -> list[Stream]: ...


