"""The node's access journal: what the access points call, and the retention sweep.

Access points call one method, before the data leaves the node:

- ``room(kind, conn, room, request_id)`` over the WebSocket: records an access to a follow-up
  room (the subject is its jobseeker) by anyone else; other rooms and the jobseeker himself are
  not journaled;
- ``record(kind, subjects, actor=, request=)`` for everything else (a portfolio: one entry per
  jobseeker in it), and ``record_http(request, kind, subjects)`` for the portal's HTTP API, whose
  actor is the ``X-Actor`` header (the portal's user on whose behalf it reads; ``*api`` when it
  names nobody) and whose request id is ``X-Request-Id`` (or one made up).

Fail closed: when the journal cannot record, the access is refused with ``unavailable``
(retryable), never served unrecorded. The journal shares the chat store (same SQLite file, same
Redis): when it cannot write, the conversation could not have been read either, so refusing
costs next to no availability (docs/audit.md).

Chat ``send`` never records: accesses are joins, history pages, exports, not messages. A
record is one store write: a SQLite transaction on the journal's own thread, or one Redis round
trip (measured in docs/audit.md).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Mapping

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram

from ..errors import BadRequest, RtError, Unavailable
from ..ids import ID_CHARS, MAX_USER_ID_CHARS, USER_ID, valid_user_id
from ..journaling import NO_JOURNAL, AccessKind, Caller, Journal, NullJournal
from .chain import Access
from .stores import SWEEP_BATCH, AuditStore

__all__ = ["API_ACTOR", "JOURNAL_KEY", "NO_JOURNAL", "AccessJournal", "Journal", "NullJournal", "record_http",
           "record_room_http", "ws_request_id"]

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
SWEEP_EVERY_S = 3600.0  # retention counted in days: an hourly pass is plenty
# Between two batches of a sweep: on SQLite each batch holds the file's write lock (a few ms for
# 1,000 entries), and the chat store's writer waiting on it must get its turn. A backlog of a
# million entries then takes 1,000 batches and 50 s of pauses.
SWEEP_PAUSE_S = 0.05
API_ACTOR = "*api"  # the portal, when it names no user: "*" is never in a user id
MAX_REQUEST_ID_CHARS = 64




class AccessJournal:
    def __init__(self, store: AuditStore, *, node_id: str, registry: CollectorRegistry, retention_days: int,
                 subject_of_room: Callable[[str], str | None]):
        if retention_days < 1:
            raise ValueError("audit_retention_days must be at least 1")
        self.store = store
        self.retention_days = retention_days
        self._node = node_id
        self.subject_of_room = subject_of_room
        self._sweeper: asyncio.Task[None] | None = None
        self.sweep_pause_s = SWEEP_PAUSE_S
        self.recorded = Counter("rtserver_audit_entries", "accesses to personal data recorded in the access "
                                "journal, by kind (docs/audit.md)", ["kind"], registry=registry)
        for kind in AccessKind:
            self.recorded.labels(str(kind))
        self.failures = Counter("rtserver_audit_failures", "accesses refused (unavailable) because the access "
                                "journal could not record them", registry=registry)
        self.swept = Counter("rtserver_audit_swept", "access journal entries deleted past audit_retention_days",
                             registry=registry)
        self.latency = Histogram("rtserver_audit_record_seconds", "time to record one access (one store write)",
                                 buckets=(0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0),
                                 registry=registry)

    # -- recording -------------------------------------------------------------------------------
    async def room(self, kind: AccessKind, conn: Caller, room_id: str, request_id: object) -> None:
        subject = self.subject_of_room(room_id)
        if subject is None or subject == conn.user_id:
            return
        await self.record(kind, (subject,), actor=conn.user_id, request=ws_request_id(conn.id, request_id),
                          detail={"room": room_id})

    async def record(self, kind: AccessKind, subjects: Iterable[str], *, actor: str, request: str,
                     detail: Mapping[str, str] | None = None) -> None:
        """Raises ``Unavailable`` when the access could not be recorded: the caller refuses it."""
        now = int(time.time() * 1000)
        accesses = [Access(kind, subject, actor, self._node, request, now, dict(detail or {}))
                    for subject in dict.fromkeys(subjects) if subject != actor]
        if not accesses:
            return
        started = time.perf_counter()
        try:
            await self.store.append(accesses)
        except RtError as exc:
            self.failures.inc()
            log.warning("access journal: could not record %s (%d entries): %s", kind, len(accesses), exc.message)
            raise Unavailable("the access journal cannot record this access now: try again",
                              retry_after_ms=1000) from exc
        self.latency.observe(time.perf_counter() - started)
        self.recorded.labels(str(kind)).inc(len(accesses))

    # -- retention ---------------------------------------------------------------------------------
    async def sweep(self, now_ms: int | None = None, *, batch: int = SWEEP_BATCH) -> int:
        """Delete the entries recorded more than ``retention_days`` ago, ``batch`` at a time."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        before = now_ms - self.retention_days * DAY_MS
        removed = 0
        while True:
            n = await self.store.sweep(before, batch=batch)
            removed += n
            self.swept.inc(n)
            if n == 0:
                return removed
            await asyncio.sleep(self.sweep_pause_s)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                removed = await self.sweep()
                if removed:
                    log.info("access journal: removed %d entries past %d days", removed, self.retention_days)
            except RtError as exc:
                log.warning("access journal: the retention sweep failed: %s", exc.message)
            except Exception:
                log.exception("access journal: the retention sweep failed")
            await asyncio.sleep(SWEEP_EVERY_S)

    async def start(self) -> None:
        await self.store.open()
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="audit-sweep")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        await self.store.close()


def ws_request_id(conn_id: str, request_id: object) -> str:
    """The connection (``NODE:N``, the same on every node it reaches) and the client's request id."""
    rid = "" if request_id is None else str(request_id)[:MAX_REQUEST_ID_CHARS]
    return f"{conn_id}/{rid}"


JOURNAL_KEY = web.AppKey("access_journal", AccessJournal)


def http_actor(request: web.Request) -> str:
    actor = request.headers.get("X-Actor")
    if actor is None:
        return API_ACTOR
    if not valid_user_id(actor):
        raise BadRequest(f"X-Actor: the user on whose behalf the portal acts, 1-{MAX_USER_ID_CHARS} characters "
                         f"among {ID_CHARS}")
    return actor


def http_request_id(request: web.Request) -> str:
    given = request.headers.get("X-Request-Id", "")
    if USER_ID.fullmatch(given) and len(given) <= MAX_REQUEST_ID_CHARS:
        return given
    return "http:" + secrets.token_hex(8)


async def record_http(request: web.Request, kind: AccessKind, subjects: Iterable[str] | str,
                      detail: Mapping[str, str] | None = None) -> None:
    """Record an access made through the portal API (after its key was checked)."""
    journal = request.app.get(JOURNAL_KEY)
    if journal is None:
        return
    await journal.record(kind, (subjects,) if isinstance(subjects, str) else subjects, actor=http_actor(request),
                         request=http_request_id(request), detail=detail)


async def record_room_http(request: web.Request, kind: AccessKind, room_id: str) -> None:
    """Record an access to a room through the portal API: journaled if it is a follow-up room."""
    journal = request.app.get(JOURNAL_KEY)
    subject = None if journal is None else journal.subject_of_room(room_id)
    if subject is not None:
        await record_http(request, kind, subject, {"room": room_id})
