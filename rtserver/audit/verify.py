"""``rtserver audit verify``: check every stream of the access journal, from the store the nodes use.

The chain shows an entry edited, deleted or moved, but not the newest entries removed together
with their head record, nor a stream rewritten consistently by someone who can write to the store
(it has no key). ``--heads-out FILE`` writes each stream's head (subject, seq, hash, time) after a
check that passed; kept outside the store (write-once storage, another service), it is what a
later ``--heads-in FILE`` compares against: every head listed must still be in the journal with
the same hash, unless it is past retention (``--audit-retention-days``).

Reads the store named by ``--store`` (as ``rtserver serve`` does), a page of subjects at a time,
and checks each stream's chain from its anchor to its head (rtserver.audit.chain.verify_stream).
Exit status: 0 when every stream verifies, 1 naming the first bad entry, 2 when the store cannot
be read. It only reads: nodes may keep running meanwhile (an entry appended during the check is
either seen with its head or not at all; a stream swept meanwhile may be reported as broken, so
run it again before acting on a problem found while nodes sweep: they do so hourly).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from ..backends.redis_link import RedisLink, is_redis_url
from ..config import Settings
from ..errors import RtError
from .chain import Entry, Problem, verify_stream
from .stores import AuditStore, audit_store

__all__ = ["Head", "Report", "check_kept", "parse_heads", "verify_journal", "verify_main"]

DAY_MS = 86_400_000


@dataclasses.dataclass(frozen=True, slots=True)
class Head:
    """A stream's last entry, as kept outside the store."""
    subject: str
    seq: int
    hash: str
    ts_ms: int

    def line(self) -> str:
        return json.dumps({"subject": self.subject, "seq": self.seq, "hash": self.hash, "ts": self.ts_ms},
                          separators=(",", ":"))


@dataclasses.dataclass(frozen=True, slots=True)
class Report:
    streams: int
    entries: int
    problem: Problem | None
    heads: list[Head] = dataclasses.field(default_factory=list)


def parse_heads(text: str) -> dict[str, list[Head]]:
    """A ``--heads-out`` file (or several, concatenated); ValueError naming the bad line."""
    kept: dict[str, list[Head]] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
            head = Head(item["subject"], item["seq"], item["hash"], item["ts"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"heads file, line {number}: not a head ({exc})") from None
        if not (isinstance(head.subject, str) and isinstance(head.hash, str) and isinstance(head.seq, int)
                and isinstance(head.ts_ms, int)):
            raise ValueError(f"heads file, line {number}: a field has the wrong type")
        kept.setdefault(head.subject, []).append(head)
    return kept


def check_kept(subject: str, kept: list[Head], entries: list[Entry | ValueError], *, before_ms: int) -> Problem | None:
    """Each head kept outside must still be in the stream with its hash, unless past retention
    (``ts`` before ``before_ms``: swept, and its seq may since have been reused by a new chain)."""
    present = {e.seq: e for e in entries if isinstance(e, Entry)}
    for head in kept:
        if head.ts_ms < before_ms:
            continue
        found = present.get(head.seq)
        if found is None:
            return Problem(subject, head.seq, "missing, though a copy of the heads kept outside the store lists it "
                                              "within retention (removed with the stream's head, or rewritten)")
        if found.hash != head.hash:
            return Problem(subject, head.seq, "differs from the copy of the heads kept outside the store (the "
                                              "stream was rewritten)")
    return None


async def verify_journal(store: AuditStore, *, kept: dict[str, list[Head]] | None = None,
                         before_ms: int = 0) -> Report:
    """Stops at the first problem. ``kept``: heads from earlier checks (``parse_heads``)."""
    streams = entries = 0
    heads: list[Head] = []
    unseen = dict(kept or {})
    async for subjects in store.subjects():
        for stream in await store.streams(subjects):
            streams += 1
            entries += len(stream.entries)
            if stream.anchor is None:
                first = next((e.seq for e in stream.entries if not isinstance(e, ValueError)), 1)
                return Report(streams, entries, Problem(stream.subject, first, "the stream's head record is missing"))
            problem = verify_stream(stream.subject, stream.anchor, stream.entries) or check_kept(
                stream.subject, unseen.pop(stream.subject, []), stream.entries, before_ms=before_ms)
            if problem is not None:
                return Report(streams, entries, problem)
            last = stream.entries[-1] if stream.entries else None
            if isinstance(last, Entry):
                heads.append(Head(last.subject, last.seq, last.hash, last.ts_ms))
    for subject, lost in unseen.items():  # streams gone altogether
        if (problem := check_kept(subject, lost, [], before_ms=before_ms)) is not None:
            return Report(streams, entries, problem)
    return Report(streams, entries, None, heads)


def _store(settings: Settings) -> tuple[AuditStore, RedisLink | None]:
    path = settings.sqlite_path()
    if path is not None:
        if path != ":memory:" and not os.path.exists(path):
            raise ValueError(f"no SQLite store at {path}")
        return audit_store(path, None), None
    if not is_redis_url(settings.store):
        raise ValueError(f"unknown store {settings.store_for_logs()!r}")
    link = RedisLink(settings.store, timeout_s=max(settings.redis_timeout_s, 10.0))
    return audit_store(None, link), link


async def _run(store: AuditStore, link: RedisLink | None, kept: dict[str, list[Head]] | None,
               before_ms: int) -> Report:
    try:
        await store.open()
        return await verify_journal(store, kept=kept, before_ms=before_ms)
    finally:
        await store.close()
        if link is not None:
            await link.close()


def verify_main(settings: Settings, *, heads_in: str | None = None, heads_out: str | None = None) -> int:
    before_ms = int(time.time() * 1000) - settings.audit_retention_days * DAY_MS
    try:
        kept = parse_heads(Path(heads_in).read_text()) if heads_in else None
        store, link = _store(settings)
        report = asyncio.run(_run(store, link, kept, before_ms))
    except (RtError, ValueError, OSError) as exc:
        print(f"rtserver audit verify: cannot read the store or the heads: {getattr(exc, 'message', exc)}",
              file=sys.stderr)
        return 2
    if report.problem is not None:
        print(f"access journal: {report.problem} (after {report.streams} streams checked)")
        return 1
    if heads_out:
        Path(heads_out).write_text("".join(h.line() + "\n" for h in report.heads))
    print(f"access journal verified: {report.entries} entries in {report.streams} streams"
          + (f"; {sum(map(len, kept.values()))} heads kept outside still match" if kept else ""))
    return 0
