"""Callback requests: a jobseeker asks to be called back; advisors claim them and record outcomes.

A request is ``open`` until an advisor claims it (``claimed``), then ends ``done``, ``no_answer``
or ``cancelled`` (by the jobseeker); ``rescheduled`` puts it back ``open`` with new windows. Every
change is a compare-and-set on the request's version, so of two advisors (or two tabs, or two
nodes) claiming at once exactly one wins and the other gets ``already_claimed``.

The queue of an advisor is the open and claimed requests of the jobseekers they follow, by due
time (the start of the earliest window): a transfer moves them with the jobseeker. A request is
``late`` when still pending after ``callback_sla_s`` from its creation, or after the end of its
first window if that comes later.

Only the jobseeker's current advisor, or a colleague covering him, acts on a request
(``access.py``); a claim held by someone who no longer may (transferred away, cover ended) is
taken over by the next claim. Windows end within ``callback_max_horizon_days``. The reason is
the jobseeker's own words: one line (checked at input), quoted as theirs in every notice.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from typing import Any

from ..errors import BadRequest, ErrorCode, Forbidden, RtError
from ..protocol import events
from ..protocol.workflow import CallbackOutcome as Outcome
from ..text import LINE_BREAKERS
from .access import Acting, CoverService
from .notify import Notifier, now_ms
from .service import MAX_CAS_RETRIES, PortfolioService, not_found
from .settings import WorkflowConfig
from .store import Callback, CallbackStatus, Channel, FollowUpStatus, WorkflowStore
from .webhooks import WebhookDispatcher

__all__ = ["CallbackService", "Outcome", "quoted"]

MAX_LISTED = 200
CHANNEL_FR = {Channel.VIDEO: "en visio", Channel.PHONE: "par téléphone"}
STATUS_FR = {
    CallbackStatus.OPEN: "en attente", CallbackStatus.CLAIMED: "prise en charge", CallbackStatus.DONE: "traitée",
    CallbackStatus.NO_ANSWER: "sans réponse", CallbackStatus.CANCELLED: "annulée",
}


QUOTED_BY = "Motif saisi par le demandeur d'emploi : "
# Whitespace, controls, separators and bidi/format characters: one space each run, so a reason
# stored before the one-line check (or by any other path) still renders on one line.
_BREAKS = re.compile(rf"[\s{LINE_BREAKERS}]+")


def quoted(text: str) -> str:
    """The jobseeker's text as one line between guillemets it cannot close: its own « and »
    become straight quotes."""
    line = _BREAKS.sub(" ", text).strip().replace("«", '"').replace("»", '"')
    return f"« {line} »"


def _timing(windows: tuple[tuple[int, int], ...], created_ms: int, config: WorkflowConfig) -> tuple[int, int]:
    first_start, first_end = windows[0]
    return first_start, max(config.deadline_ms(created_ms, config.callback_sla_ms), first_end)


class CallbackService:
    def __init__(self, *, store: WorkflowStore, portfolios: PortfolioService, access: CoverService,
                 notifier: Notifier, webhooks: WebhookDispatcher, config: WorkflowConfig):
        self._store = store
        self._portfolios = portfolios
        self._access = access
        self._notify = notifier
        self._webhooks = webhooks
        self._config = config

    async def request(self, jobseeker: str, *, reason: str, channel: Channel,
                      windows: tuple[tuple[int, int], ...]) -> Callback:
        """Asked by the jobseeker (WebSocket) or a portal on their behalf (HTTP): the same rules."""
        if max(end for _, end in windows) <= now_ms():
            raise BadRequest("every window is in the past")
        followup = await self._portfolios.followup(jobseeker)
        if followup.status is not FollowUpStatus.ACTIVE:
            raise Forbidden("web follow-up is paused: opt in again to ask for a callback")
        self._within_horizon(windows)
        pending = await self._store.pending_callbacks([jobseeker])
        if len(pending) >= self._config.callback_max_open:
            raise RtError(f"already {len(pending)} open callback requests (at most {self._config.callback_max_open})",
                          code=ErrorCode.CONFLICT)
        now = now_ms()
        ordered = tuple(sorted(windows))
        due, late = _timing(ordered, now, self._config)
        callback = Callback(secrets.token_hex(8), jobseeker, reason, channel, ordered, CallbackStatus.OPEN, now, due,
                            late, now)
        await self._store.save_callback(callback, expected_version=None)
        callback = dataclasses.replace(callback, version=1)
        await self._announce(followup.room, callback, "requested", actor=jobseeker,
                             text=f"Demande de rappel {CHANNEL_FR[channel]}. {QUOTED_BY}{quoted(reason)}")
        self._webhooks.emit("callback.requested", {**callback.to_dict(now), "advisor": followup.advisor,
                                                   "room": followup.room})
        return callback

    async def get(self, callback_id: str) -> Callback:
        found = await self._store.get_callback(callback_id)
        if found is None:
            raise not_found(f"no callback request {callback_id!r}")
        return found

    async def _change(self, callback_id: str, change: Any) -> Callback:
        """Apply ``change(current) -> new`` as a compare-and-set; ``change`` raises to refuse."""
        for _ in range(MAX_CAS_RETRIES):
            current = await self.get(callback_id)
            updated = change(current)
            if await self._store.save_callback(updated, expected_version=current.version):
                return dataclasses.replace(updated, version=current.version + 1)
        raise RtError("the callback request kept changing: try again", code=ErrorCode.CONFLICT)

    def _within_horizon(self, windows: tuple[tuple[int, int], ...]) -> None:
        horizon = self._config.callback_max_horizon_ms
        if max(end for _, end in windows) > now_ms() + horizon:
            raise BadRequest(f"every window must end within {horizon // 86_400_000} days "
                             "(callback_max_horizon_days)")

    async def _acting(self, callback_id: str, advisor: str) -> tuple[Callback, Acting]:
        """The request and the right to act on it, read again on every call (not_found first:
        the same answer as before for ids that do not exist)."""
        callback = await self.get(callback_id)
        return callback, await self._access.authorize(advisor, callback.jobseeker)

    async def claim(self, callback_id: str, advisor: str) -> Callback:
        before, acting = await self._acting(callback_id, advisor)
        # A claim held by someone who may no longer act on the request is taken over.
        stale = before.claimed_by if (before.status is CallbackStatus.CLAIMED and before.claimed_by != advisor
                                      and not await self._access.may_act(before.claimed_by or "",
                                                                         before.jobseeker)) else None

        def change(cb: Callback) -> Callback:
            if cb.status is CallbackStatus.CLAIMED and (stale is None or cb.claimed_by != stale):
                raise RtError(f"already claimed by {cb.claimed_by}", code=ErrorCode.ALREADY_CLAIMED)
            if cb.status not in (CallbackStatus.OPEN, CallbackStatus.CLAIMED):
                raise RtError(f"the request is {cb.status}", code=ErrorCode.CONFLICT)
            now = now_ms()
            return dataclasses.replace(cb, status=CallbackStatus.CLAIMED, claimed_by=advisor, claimed_ms=now,
                                       updated_ms=now, covered=(*cb.covered, *acting.audit("claimed", now)))

        callback = await self._change(callback_id, change)
        await self._announce_change(callback, actor=advisor)
        self._access.used(acting, "claimed", callback=callback.id, jobseeker=callback.jobseeker)
        return callback

    async def outcome(self, callback_id: str, advisor: str, outcome: Outcome, *, note: str | None,
                      windows: tuple[tuple[int, int], ...] | None) -> Callback:
        _, acting = await self._acting(callback_id, advisor)
        if windows:
            self._within_horizon(windows)

        def change(cb: Callback) -> Callback:
            if cb.status is not CallbackStatus.CLAIMED or cb.claimed_by != advisor:
                raise Forbidden("claim the request before recording its outcome")
            now = now_ms()
            cover = {"cover": acting.cover.id} if acting.cover is not None else {}
            record = {"outcome": str(outcome), "by": advisor, "at": now, **({"note": note} if note else {}), **cover}
            outcomes = (*cb.outcomes, record)
            covered = (*cb.covered, *acting.audit(str(outcome), now))
            if outcome is Outcome.RESCHEDULED:
                assert windows
                ordered = tuple(sorted(windows))
                due, late = _timing(ordered, now, self._config)
                return dataclasses.replace(cb, status=CallbackStatus.OPEN, windows=ordered, due_ms=due, late_ms=late,
                                           claimed_by=None, claimed_ms=None, outcomes=outcomes, updated_ms=now,
                                           covered=covered)
            status = CallbackStatus.DONE if outcome is Outcome.DONE else CallbackStatus.NO_ANSWER
            return dataclasses.replace(cb, status=status, outcomes=outcomes, updated_ms=now, covered=covered)

        callback = await self._change(callback_id, change)
        await self._announce_change(callback, actor=advisor, rescheduled=outcome is Outcome.RESCHEDULED)
        self._access.used(acting, str(outcome), callback=callback.id, jobseeker=callback.jobseeker)
        return callback

    async def cancel(self, callback_id: str, jobseeker: str) -> Callback:
        def change(cb: Callback) -> Callback:
            if cb.jobseeker != jobseeker:
                raise not_found(f"no callback request {callback_id!r}")
            if not cb.status.pending:
                raise RtError(f"the request is already {cb.status}", code=ErrorCode.CONFLICT)
            now = now_ms()
            return dataclasses.replace(cb, status=CallbackStatus.CANCELLED, updated_ms=now, outcomes=(
                *cb.outcomes, {"outcome": "cancelled", "by": jobseeker, "at": now}))

        callback = await self._change(callback_id, change)
        await self._announce_change(callback, actor=jobseeker)
        return callback

    async def _announce_change(self, callback: Callback, *, actor: str, rescheduled: bool = False) -> None:
        followup = await self._portfolios.followup(callback.jobseeker)
        text = f"Demande de rappel {STATUS_FR[callback.status]}{' (reportée)' if rescheduled else ''}. " \
               f"{QUOTED_BY}{quoted(callback.reason)}"
        await self._announce(followup.room, callback, "rescheduled" if rescheduled else str(callback.status),
                             actor=actor, text=text)

    async def _announce(self, room: str, callback: Callback, event: str, *, actor: str, text: str) -> None:
        await self._notify.notice(room, text, actor=actor)
        await self._notify.live(room, events.callback(room, event, callback.to_dict(now_ms())))

    async def queue(self, advisor: str, *, actor: str | None = None) -> list[Callback]:
        """The advisor's queue; for an ``actor`` other than him, only under a cover."""
        if actor is not None and await self._access.on_portfolio(actor, advisor) is None:
            raise Forbidden(f"you do not cover {advisor!r}'s portfolio")
        jobseekers = [f.jobseeker for f in await self._store.portfolio(advisor)]
        return (await self._store.pending_callbacks(jobseekers))[:MAX_LISTED] if jobseekers else []

    async def of(self, jobseeker: str) -> list[Callback]:
        return await self._store.callbacks_of(jobseeker, limit=MAX_LISTED)
