"""The follow-up workflow of one node: its store, services, timers and background loops.

Its store comes from the node's store family (``rtserver/stores.py``: with ``sqlite:PATH``,
the chat's file on a connection of its own; with Redis, the chat's client). ``Workflow.start``
opens the store and starts the webhook workers, the timer loop (every ``workflow_tick_s``, due
timers are claimed one by one: on several nodes each timer fires once) and the figures
refresher; ``close`` stops them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry

from ..audit.journal import NO_JOURNAL, Journal
from ..backends import Backends
from ..delivery.connection import Connection
from ..delivery.hub import Hub
from ..errors import ErrorCode, Forbidden, RtError
from ..logprivacy import personal
from ..precall.results import CheckResults
from ..tasks import BackgroundTasks, honour_cancellation
from .access import CoverService
from .appointments import AppointmentService
from .callbacks import CallbackService
from .digest import DigestService
from .figures import FigureCollector, Figures
from .live import LiveRequests
from .mail import Mailer
from .notify import Notifier, now_ms
from .service import PortfolioService
from .settings import WorkflowConfig
from .store import FollowUpStatus, Timer, TimerKind, WorkflowStore
from .webhooks import WebhookDispatcher

__all__ = ["WORKFLOW_KEY", "Workflow"]

log = logging.getLogger(__name__)
TIMERS_PER_TICK = 200


class Workflow:
    """The workflow's services over its store, given the few collaborators they use: the chat's
    backends (members, presence, fan-out), the hub (a member who lost the right to post is detached),
    the chat's ``remove_member`` (a transfer takes the previous advisor out), the pre-call results
    (portfolio rows), and the metrics registry."""

    def __init__(self, config: WorkflowConfig, store: WorkflowStore, *, backends: Backends, hub: Hub,
                 remove_member: Callable[[str, str], Awaitable[bool]], registry: CollectorRegistry,
                 max_room_members: int, advisor_labels: bool, checks: CheckResults | None = None):
        self.config = config
        self.store = store
        self.checks = checks
        self.journal: Journal = NO_JOURNAL  # the node's access journal (rtserver/audit), set at composition
        b = backends
        self.mailer = Mailer(config.smtp, registry=registry)
        self.webhooks = WebhookDispatcher(config.webhooks, registry=registry, outbox=store)
        self.notifier = Notifier(store=store, chat_store=b.store, broker=b.broker, presence=b.presence, config=config)
        self.portfolios = PortfolioService(store=store, chat_store=b.store, presence=b.presence,
                                           remove_member=remove_member, notifier=self.notifier,
                                           webhooks=self.webhooks, config=config,
                                           max_room_members=max_room_members)
        self.covers = CoverService(store=store, portfolios=self.portfolios, webhooks=self.webhooks, config=config)
        self.callbacks = CallbackService(store=store, portfolios=self.portfolios, access=self.covers,
                                         notifier=self.notifier, webhooks=self.webhooks, config=config)
        self.appointments = AppointmentService(store=store, portfolios=self.portfolios, access=self.covers,
                                               notifier=self.notifier, mailer=self.mailer, webhooks=self.webhooks,
                                               config=config)
        self.digests = DigestService(store=store, chat_store=b.store, presence=b.presence, mailer=self.mailer,
                                     config=config)
        self.figures = Figures(store=store, webhooks=self.webhooks, config=config)
        registry.register(FigureCollector(self.figures, per_advisor=advisor_labels))
        self._chat_store = b.store
        self._hub = hub
        self.live = LiveRequests(self)
        self._after = BackgroundTasks("workflow bookkeeping after a message", logger=log, level=logging.WARNING)
        self._loops: list[asyncio.Task[None]] = []
        self.ticked = asyncio.Event()  # set after each timer pass (tests await it instead of sleeping)

    async def portfolio(self, advisor_id: str) -> list[dict[str, Any]]:
        """The advisor's portfolio rows, each with the jobseeker's latest pre-call check (or None)."""
        rows = await self.portfolios.portfolio(advisor_id)
        latest = await self.checks.latest([r["jobseeker"] for r in rows]) if self.checks is not None and rows else {}
        for row in rows:
            row["precall"] = latest.get(row["jobseeker"])
        return rows

    async def start(self) -> None:
        await self.store.open()
        await self.webhooks.start()
        self._loops = [asyncio.create_task(self._every(self.config.tick_s, self.run_timers), name="workflow-timers"),
                       asyncio.create_task(self._every(self.config.figures_refresh_s, self.figures.refresh),
                                           name="workflow-figures")]

    async def close(self) -> None:
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        await self._after.close()
        await self.webhooks.close()
        await self.store.close()

    async def _every(self, interval_s: float, job: Any) -> None:
        while True:
            try:
                await job()
            except RtError as exc:  # the store is unreachable: try again next time
                log.warning("workflow %s: %s", getattr(job, "__name__", "job"), exc.message)
            except Exception:
                log.exception("workflow %s failed", getattr(job, "__name__", "job"))
            honour_cancellation()  # a timer's mail may have gone through aiosmtplib's wait_for
            await asyncio.sleep(interval_s)

    # -- timers ----------------------------------------------------------------------------------
    async def run_timers(self) -> int:
        """Fire every due timer this node wins; returns how many it fired."""
        fired = 0
        try:
            for timer in await self.store.due_timers(now_ms(), limit=TIMERS_PER_TICK):
                if not await self.store.claim_timer(timer):
                    continue  # another node took it
                fired += 1
                try:
                    await self._fire(timer)
                except RtError as exc:
                    log.warning("timer %s %s failed: %s", timer.kind, personal(timer.ref), exc.message)
                except Exception:
                    log.exception("timer %s %s failed", timer.kind, personal(timer.ref))
        finally:
            self.ticked.set()
            self.ticked = asyncio.Event()
        return fired

    async def _fire(self, timer: Timer) -> None:
        if timer.kind is TimerKind.REMINDER:
            await self.appointments.remind(timer.ref)
        elif timer.kind is TimerKind.APPOINTMENT_END:
            await self.appointments.conclude(timer.ref)
        elif timer.kind is TimerKind.DIGEST:
            await self.digests.send(timer.ref)
        elif timer.kind is TimerKind.WEBHOOK:
            await self.webhooks.recover(timer.ref)
        elif timer.kind is TimerKind.MEMBERSHIP:
            await self.portfolios.repair_membership(timer.ref)
        elif timer.kind is TimerKind.UNANSWERED:
            await self.figures.unanswered(timer.ref, await self.store.get_followup(timer.ref))

    # -- messages in follow-up rooms ---------------------------------------------------------------
    async def check_may_post(self, conn: Connection, room: str, jobseeker: str) -> None:
        """Membership read from the store, not from this node's cache: an advisor transferred away
        on another node cannot post from a connection that joined before."""
        if await self._chat_store.member_role(room, conn.user_id) is None:
            self._hub.detach(conn, room)
            raise Forbidden("you are no longer a member of this conversation", code=ErrorCode.NOT_JOINED)
        followup = await self.store.get_followup(jobseeker)
        if followup is not None and followup.status is FollowUpStatus.OPTED_OUT:
            raise Forbidden("web follow-up is paused: the jobseeker went back to the agency")

    def after_message(self, room: str, jobseeker: str, sender: str, ts_ms: int) -> None:
        self._after.spawn(self._after_message(room, jobseeker, sender, ts_ms))

    async def _after_message(self, room: str, jobseeker: str, sender: str, ts_ms: int) -> None:
        followup = await self.store.get_followup(jobseeker)
        if followup is not None:
            await self.figures.on_message(followup, sender, ts_ms)
        await self.notifier.reached(room, sender=sender)


WORKFLOW_KEY: web.AppKey[Workflow] = web.AppKey("rtserver_workflow", Workflow)
