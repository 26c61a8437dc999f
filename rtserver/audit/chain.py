"""The access journal's pure core: entries, their canonical encoding, the hash chain, verification.

A *stream* is every entry about one subject (the person whose data was read: the jobseeker of a
follow-up), numbered ``seq`` 1, 2, 3... Each entry carries ``prev``, the hash of the entry
before it in its stream (``GENESIS`` for the first), and ``hash``, the SHA-256 of its canonical
encoding (every field but ``hash``, ``prev`` included). Editing any field of an entry changes
its hash; deleting or moving one breaks the ``seq`` numbering and the ``prev`` of the next one:
``verify_stream`` names the first entry where that shows.

Per subject rather than per node: node ids change at every start (``Node.id`` is random), so a
node's stream would end at each restart; a subject's stream lives as long as there is something
to keep about that person, is what a person's export hands over (verifiable on its own), and two
nodes appending at once only ever race on the same person's file (each append is a
compare-and-set on the stream's head, retried: rtserver.audit.stores).

Retention deletes a stream's oldest entries (a prefix: ``expired_prefix``) and keeps an
*anchor*: the ``seq`` of the first entry kept and the ``prev`` it must carry. The chain from the
anchor to the head then still verifies, and deleting the oldest kept entry by other means is
seen (its successor does not match the anchor). What a chain alone cannot show: the newest
entries deleted together with the head record, or a whole stream removed; docs/audit.md says
what to keep outside the store to see those too.

No I/O here: the stores call ``link`` inside their own transaction (SQLite) or compare-and-set
(Redis), and ``rtserver audit verify`` calls ``verify_stream``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..journaling import AccessKind

__all__ = ["GENESIS", "Access", "AccessKind", "Anchor", "Entry", "Problem", "anchor_after", "canonical",
           "expired_prefix", "link", "verify_stream"]

VERSION = 1  # in each entry: a later encoding can coexist with this one
GENESIS = "0" * 64  # the ``prev`` of a stream's first entry
MAX_DETAIL_ITEMS = 8  # detail holds ids (room, advisor), never free text


@dataclasses.dataclass(frozen=True, slots=True)
class Access:
    """What an access point records; the store makes it an ``Entry`` by giving it its place."""
    kind: AccessKind
    subject: str
    actor: str
    node: str
    request: str
    ts_ms: int
    detail: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    subject: str
    seq: int
    ts_ms: int
    actor: str
    kind: str  # a str, not an AccessKind: an entry written by a later version still verifies
    node: str
    request: str
    detail: Mapping[str, str]
    prev: str
    hash: str

    def body(self) -> dict[str, Any]:
        """What the hash covers: every field but ``hash``."""
        return {"v": VERSION, "subject": self.subject, "seq": self.seq, "ts": self.ts_ms, "actor": self.actor,
                "kind": self.kind, "node": self.node, "request": self.request, "detail": dict(self.detail),
                "prev": self.prev}

    def to_dict(self) -> dict[str, Any]:
        return {**self.body(), "hash": self.hash}

    def computed_hash(self) -> str:
        return hashlib.sha256(canonical(self.body())).hexdigest()

    @classmethod
    def from_dict(cls, data: Any) -> Entry:
        """Raises ValueError for anything that is not an entry as ``to_dict`` writes it."""
        try:
            if not isinstance(data, dict) or data.get("v") != VERSION:
                raise ValueError("not a version 1 entry")
            detail = data["detail"]
            if not isinstance(detail, dict) or not all(isinstance(v, str) for v in detail.values()):
                raise ValueError("detail is not a map of strings")
            entry = cls(subject=data["subject"], seq=data["seq"], ts_ms=data["ts"], actor=data["actor"],
                        kind=data["kind"], node=data["node"], request=data["request"], detail=detail,
                        prev=data["prev"], hash=data["hash"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed entry: {exc}") from None
        strings = (entry.subject, entry.actor, entry.kind, entry.node, entry.request, entry.prev, entry.hash)
        if not all(isinstance(s, str) for s in strings) or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in (entry.seq, entry.ts_ms)):
            raise ValueError("malformed entry: a field has the wrong type")
        return entry

    @classmethod
    def load(cls, text: str | bytes) -> Entry:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from None


def canonical(body: Mapping[str, Any]) -> bytes:
    """One byte string per content: keys sorted, no spaces, UTF-8 (ids are ASCII anyway)."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def link(access: Access, *, seq: int, prev: str) -> Entry:
    """``access`` as entry ``seq`` of its subject's stream, after the entry whose hash is ``prev``."""
    if len(access.detail) > MAX_DETAIL_ITEMS:
        raise ValueError(f"an entry's detail holds at most {MAX_DETAIL_ITEMS} items")
    draft = Entry(subject=access.subject, seq=seq, ts_ms=access.ts_ms, actor=access.actor, kind=str(access.kind),
                  node=access.node, request=access.request, detail=dict(access.detail), prev=prev, hash="")
    return dataclasses.replace(draft, hash=draft.computed_hash())


@dataclasses.dataclass(frozen=True, slots=True)
class Anchor:
    """Where a stream's kept part starts (``first``: the seq of its first entry, which must carry
    ``prev``) and where it ends (``head``: the last seq, with its hash ``head_hash``)."""
    first: int = 1
    prev: str = GENESIS
    head: int = 0
    head_hash: str = GENESIS


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    subject: str
    seq: int  # the first bad entry (or the seq the head record names, when entries are missing at the end)
    reason: str

    def __str__(self) -> str:
        return f"subject {self.subject!r}, entry {self.seq}: {self.reason}"


def verify_stream(subject: str, anchor: Anchor, entries: Iterable[Entry | ValueError]) -> Problem | None:
    """The first problem in one stream, or None when the entries chain from the anchor to the head.

    ``entries`` in the store's order (by seq); a ``ValueError`` in their place stands for one the
    store holds but could not read (not JSON, a field missing).
    """
    seq, prev = anchor.first, anchor.prev
    for entry in entries:
        if isinstance(entry, ValueError):
            return Problem(subject, seq, f"unreadable ({entry})")
        if entry.subject != subject:
            return Problem(subject, seq, f"the entry found there belongs to {entry.subject!r}")
        if entry.seq != seq:
            what = "missing" if entry.seq > seq else "out of order"
            return Problem(subject, seq, f"{what}: found entry {entry.seq} where {seq} should be")
        if entry.prev != prev:
            return Problem(subject, seq, "does not follow the entry before it (prev differs: that one or this "
                                         "one was edited, replaced or deleted)")
        if entry.computed_hash() != entry.hash:
            return Problem(subject, seq, "edited: its hash does not match its content")
        seq, prev = seq + 1, entry.hash
    if anchor.head > seq - 1:
        return Problem(subject, seq, f"missing: the stream ends at entry {seq - 1} but its head record says "
                                     f"{anchor.head}")
    if anchor.head < seq - 1:
        return Problem(subject, anchor.head + 1, f"beyond the head record, which says the stream ends at "
                                                 f"{anchor.head}")
    if anchor.head_hash != prev:
        return Problem(subject, anchor.head, "the head record's hash differs from the last entry's")
    return None


def expired_prefix(entries: Sequence[Entry], before_ms: int) -> int:
    """How many of a stream's oldest ``entries`` (in seq order) retention deletes: those before the
    first one recorded at or after ``before_ms``. A prefix, so the rest still chains from an anchor;
    an entry stamped earlier than one before it (two nodes' clocks a little apart) waits for it."""
    count = 0
    for entry in entries:
        if entry.ts_ms >= before_ms:
            break
        count += 1
    return count


def anchor_after(anchor: Anchor, deleted: Sequence[Entry]) -> Anchor:
    """The anchor once ``deleted`` (the oldest entries, in order) are gone."""
    if not deleted:
        return anchor
    return dataclasses.replace(anchor, first=deleted[-1].seq + 1, prev=deleted[-1].hash)
