"""The retention sweep: every ``sweep_s``, on any node, each kind's due items are deleted in
bounded batches.

Several nodes: before a pass over a kind, a node claims it (``Claim``: on Redis a lease key set
with ``NX``, held for most of a sweep interval), so in one interval one node sweeps each kind, as
one node fires each workflow timer. The claim saves work; correctness does not rest on it: every
reaper deletes with one atomic step per batch (a Lua script on Redis, one transaction on
SQLite) that re-checks what is due, so two nodes sweeping at once (a lease that ran out in the
middle of a long pass) delete each item once, and nothing that is not due.

Never stalling the chat: a batch is at most ``retention_batch`` items (500 by default: about
1 ms of a SQLite commit, measured in docs/retention.md); between two batches the sweep sleeps
``retention_batch_pause_s``, so chat sends queued meanwhile go first; a pass stops after
``retention_max_batches`` batches, what is left being overdue until the next pass.

A kind is swept by a ``Reaper`` (its store's): ``delete_due(cutoff_ms, limit, cursor)`` deletes
up to ``limit`` due items, walking the store from ``cursor`` ("" at the start of a pass), and
answers how many went and where to go on (None: the walk is over). ``oldest_ms`` gives the
anchor of the oldest item held, for the overdue gauge.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge

from ..errors import RtError
from ..reaping import Claim, FnReaper, LocalClaim, Reaper
from ..tasks import honour_cancellation
from .policy import Kind, PassBudget, Rule, cutoff_ms, overdue_s

__all__ = ["Claim", "FnReaper", "LocalClaim", "Reaper", "RetentionSweeper"]

log = logging.getLogger(__name__)


class RetentionSweeper:
    def __init__(self, rules: Mapping[Kind, Rule], reapers: Mapping[Kind, Reaper], *, budget: PassBudget,
                 sweep_s: float, claim: Claim, registry: CollectorRegistry,
                 clock: Callable[[], float] = time.time):
        if sweep_s <= 0:
            raise ValueError("retention_sweep_s must be above 0")
        self._rules = rules
        self._reapers = {kind: r for kind, r in reapers.items() if kind in rules and not rules[kind].forever}
        self._budget = budget
        self._sweep_s = sweep_s
        self._claim = claim
        self._clock = clock
        self._task: asyncio.Task[None] | None = None
        self._cursors: dict[Kind, str] = {}
        self.swept = asyncio.Event()  # set after each sweep (tests await it instead of sleeping)
        self.deleted = Counter("rtserver_retention_deleted", "items deleted by the retention sweep, per kind",
                               ["kind"], registry=registry)
        self.overdue = Gauge("rtserver_retention_overdue_seconds", "how long the oldest item held has been past "
                             "its retention (0: nothing overdue), per kind, after the last pass", ["kind"],
                             registry=registry)
        self.failures = Counter("rtserver_retention_failures", "retention passes over a kind that failed (store "
                                "unavailable, or an error the log shows)",
                                ["kind"], registry=registry)
        for kind in self._reapers:
            self.deleted.labels(kind=str(kind))
            self.overdue.labels(kind=str(kind)).set(0)

    async def sweep(self, now_ms: int | None = None) -> dict[Kind, int]:
        """One pass over every kind this node claims; how many items of each went."""
        now = int(self._clock() * 1000) if now_ms is None else now_ms
        lease_ms = max(1, int(self._sweep_s * 900))  # 90 % of the interval: free again at the next one
        done: dict[Kind, int] = {}
        for kind, reaper in self._reapers.items():
            cutoff = cutoff_ms(self._rules[kind], now)
            try:
                if cutoff is None or not await self._claim.claim(str(kind), lease_ms):
                    continue
                done[kind] = await self._pass(kind, reaper, cutoff)
                self.overdue.labels(kind=str(kind)).set(overdue_s(await reaper.oldest_ms(), cutoff))
            except RtError as exc:  # the store is down: the next pass takes what is due then
                self.failures.labels(kind=str(kind)).inc()
                log.warning("retention sweep of %s failed: %s", kind, exc.message)
            except Exception:  # a bug in one kind's reaper: the other kinds, and the next passes, go on
                self.failures.labels(kind=str(kind)).inc()
                log.exception("retention sweep of %s failed", kind)
        return done

    async def _pass(self, kind: Kind, reaper: Reaper, cutoff: int) -> int:
        deleted, cursor = 0, self._cursors.get(kind, "")
        for call in range(self._budget.max_batches):
            if call:
                await asyncio.sleep(self._budget.pause_s)
            n, next_cursor = await reaper.delete_due(cutoff, self._budget.batch, cursor)
            deleted += n
            self.deleted.labels(kind=str(kind)).inc(n)
            cursor = "" if next_cursor is None else next_cursor
            if next_cursor is None:
                break
        self._cursors[kind] = cursor  # a walk the budget cut short goes on at the next pass
        if deleted:
            log.info("retention: deleted %d %s", deleted, kind)
        return deleted

    async def _loop(self) -> None:
        while True:
            # The interval first: a node (re)starting does not add a sweep to its start-up, and
            # nodes restarted together do not race for the claims at once.
            await asyncio.sleep(self._sweep_s)
            await self.sweep()
            honour_cancellation()
            self.swept.set()

    async def start(self) -> None:
        if self._reapers:
            self._task = asyncio.create_task(self._loop(), name="retention-sweep")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
