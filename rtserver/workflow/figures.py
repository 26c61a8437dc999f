"""Response-time figures per advisor: first-reply times, open callbacks, portfolio size.

First reply: when a jobseeker writes while no earlier message of theirs is waiting, a wait
starts; the first message of their current advisor ends it, and its length is one sample.
Later messages in the same wait or system notices do not count. The figures are the median and
90th percentile of the samples of the last ``figures_window_s`` (the last 1,000 per advisor).
A wait longer than ``reply_sla_s`` fires the ``message.unanswered`` webhook once.

``/metrics`` cannot await the store, so a background loop recomputes every advisor's figures
each ``figures_refresh_s`` and the collector reads that snapshot. With several nodes each node
exports the same shared figures: aggregate them with ``max``, not ``sum``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .notify import SYSTEM_SENDER, now_ms
from .settings import WorkflowConfig
from .store import CallbackStatus, FollowUp, TimerKind, WorkflowStore
from .webhooks import WebhookDispatcher

__all__ = ["FigureCollector", "Figures", "percentile"]

log = logging.getLogger(__name__)
SAMPLES_KEPT = 1000


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks; None without values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


class Figures:
    def __init__(self, *, store: WorkflowStore, webhooks: WebhookDispatcher, config: WorkflowConfig):
        self._store = store
        self._webhooks = webhooks
        self._config = config
        self.snapshot: list[dict[str, Any]] = []

    async def on_message(self, followup: FollowUp, sender: str, ts_ms: int) -> None:
        if sender == SYSTEM_SENDER:
            return
        if sender == followup.jobseeker:
            if await self._store.note_question(followup.jobseeker, ts_ms):
                due = self._config.deadline_ms(ts_ms, self._config.reply_sla_ms)
                await self._store.schedule(TimerKind.UNANSWERED, followup.jobseeker, due)
        elif sender == followup.advisor:
            since = await self._store.take_question(followup.jobseeker)
            if since is not None:
                await self._store.unschedule(TimerKind.UNANSWERED, followup.jobseeker)
                await self._store.add_reply_time(followup.advisor, ts_ms, max(0.0, (ts_ms - since) / 1000),
                                                 keep=SAMPLES_KEPT)

    async def unanswered(self, jobseeker: str, followup: FollowUp | None) -> None:
        if followup is None:
            return
        self._webhooks.emit("message.unanswered", {"jobseeker": jobseeker, "advisor": followup.advisor,
                                                   "room": followup.room, "sla_s": self._config.reply_sla_ms // 1000})

    async def advisor(self, advisor: str) -> dict[str, Any]:
        now = now_ms()
        times = await self._store.reply_times(advisor, since_ms=now - self._config.figures_window_ms)
        portfolio = await self._store.portfolio(advisor)
        pending = await self._store.pending_callbacks([f.jobseeker for f in portfolio]) if portfolio else []
        open_ones = [cb for cb in pending if cb.status is CallbackStatus.OPEN]
        ages = [(now - cb.created_ms) / 1000 for cb in open_ones]
        return {
            "advisor": advisor, "portfolio_size": len(portfolio), "replies": len(times),
            "first_reply_median_s": percentile(times, 0.5), "first_reply_p90_s": percentile(times, 0.9),
            "open_callbacks": len(open_ones), "claimed_callbacks": len(pending) - len(open_ones),
            "oldest_open_callback_age_s": max(ages) if ages else None,
            "late_callbacks": sum(1 for cb in pending if now > cb.late_ms),
        }

    async def all(self) -> list[dict[str, Any]]:
        advisors = sorted(set(await self._store.advisors()) | set(await self._store.portfolio_sizes()))
        return [await self.advisor(a) for a in advisors]

    async def refresh(self) -> None:
        self.snapshot = await self.all()


class FigureCollector(Collector):
    """Exports ``Figures.snapshot`` on the node's registry.

    By default only totals over all advisors: ``/metrics`` is often scraped without credentials,
    and an advisor's id next to his reply times and late callbacks is personal data. With
    ``per_advisor`` (``metrics_advisor_labels``) each advisor's figures carry an ``advisor`` label.
    """

    def __init__(self, figures: Figures, *, per_advisor: bool = False):
        self._figures = figures
        self._per_advisor = per_advisor

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from (self._labelled() if self._per_advisor else self._totals())

    def _labelled(self) -> Iterator[GaugeMetricFamily]:
        reply = GaugeMetricFamily("rtserver_advisor_first_reply_seconds",
                                  "time to first reply to a jobseeker's message", labels=["advisor", "quantile"])
        size = GaugeMetricFamily("rtserver_advisor_portfolio_size", "jobseekers followed", labels=["advisor"])
        open_cb = GaugeMetricFamily("rtserver_advisor_open_callbacks", "callback requests waiting to be claimed",
                                    labels=["advisor"])
        oldest = GaugeMetricFamily("rtserver_advisor_oldest_open_callback_age_seconds",
                                   "age of the oldest open callback request", labels=["advisor"])
        late = GaugeMetricFamily("rtserver_advisor_late_callbacks", "pending callback requests past their SLA",
                                 labels=["advisor"])
        for row in self._figures.snapshot:
            a = row["advisor"]
            for q, key in QUANTILES:
                if row[key] is not None:
                    reply.add_metric([a, q], row[key])
            size.add_metric([a], row["portfolio_size"])
            open_cb.add_metric([a], row["open_callbacks"])
            oldest.add_metric([a], row["oldest_open_callback_age_s"] or 0.0)
            late.add_metric([a], row["late_callbacks"])
        return iter((reply, size, open_cb, oldest, late))

    def _totals(self) -> Iterator[GaugeMetricFamily]:
        rows = self._figures.snapshot
        reply = GaugeMetricFamily("rtserver_advisors_first_reply_seconds_max",
                                  "the slowest advisor's time to first reply (each quantile of his replies)",
                                  labels=["quantile"])
        for q, key in QUANTILES:
            values = [row[key] for row in rows if row[key] is not None]
            if values:
                reply.add_metric([q], max(values))
        return iter((
            GaugeMetricFamily("rtserver_advisors", "advisors with figures", value=len(rows)),
            reply,
            GaugeMetricFamily("rtserver_advisors_portfolio_size", "jobseekers followed, all advisors",
                              value=sum(row["portfolio_size"] for row in rows)),
            GaugeMetricFamily("rtserver_advisors_open_callbacks", "callback requests waiting to be claimed",
                              value=sum(row["open_callbacks"] for row in rows)),
            GaugeMetricFamily("rtserver_advisors_oldest_open_callback_age_seconds",
                              "age of the oldest open callback request, all advisors",
                              value=max((row["oldest_open_callback_age_s"] or 0.0 for row in rows), default=0.0)),
            GaugeMetricFamily("rtserver_advisors_late_callbacks", "pending callback requests past their SLA",
                              value=sum(row["late_callbacks"] for row in rows)),
        ))


QUANTILES = (("0.5", "first_reply_median_s"), ("0.9", "first_reply_p90_s"))
