"""The pre-call check's WebSocket requests: store a check's result, read results back.

The server computes the verdict itself from the measurements a client sends (``verdict.evaluate``):
the browser page and the Python SDK show what the server decided, so the thresholds live in one
place and a client cannot store a verdict its measurements do not support. A stored result
reaches the jobseeker's advisor at once, as a live ``precall`` event in their follow-up
conversation (which is also the interview room), and in the portfolio rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter

from ..auth import Role
from ..errors import ErrorCode, Forbidden, RtError
from ..logprivacy import personal
from ..protocol import events
from ..protocol.precall import PrecallResult, PrecallResults
from .results import CheckResults
from .verdict import evaluate

if TYPE_CHECKING:
    from ..delivery.connection import Connection
    from ..workflow import Workflow

__all__ = ["PrecallService"]

log = logging.getLogger(__name__)

Handler = Callable[["Connection", Any], Awaitable[dict[str, Any] | None]]


class PrecallService:
    def __init__(self, results: CheckResults, *, workflow: Workflow | None, registry: CollectorRegistry):
        self.results = results
        self._workflow = workflow
        self._checks = Counter("rtserver_precall_checks", "pre-call check results stored, by verdict",
                               ["verdict"], registry=registry)

    def routes(self) -> dict[type, Handler]:
        return {PrecallResult: self.save, PrecallResults: self.read}

    async def save(self, conn: Connection, req: PrecallResult) -> dict[str, Any]:
        try:
            result = evaluate(req.measurements)
        except ValueError as exc:
            raise RtError(f"measurements: {exc}", code=ErrorCode.INVALID_MESSAGE) from None
        stored = await self.results.save(conn.user_id, result, ts_ms=int(time.time() * 1000))
        self._checks.labels(stored["verdict"]).inc()
        await self._tell_advisor(conn.user_id, stored)
        return events.precall_result_reply(req.id, stored)

    async def read(self, conn: Connection, req: PrecallResults) -> dict[str, Any]:
        user = req.user or conn.user_id
        if user != conn.user_id and not await self._follows(conn, user):
            raise Forbidden("you may read your own checks, or, as an advisor, those of your portfolio's jobseekers")
        return events.precall_results_reply(req.id, user, await self.results.history(user, limit=req.limit))

    async def _follows(self, conn: Connection, jobseeker: str) -> bool:
        assert conn.identity is not None
        if conn.identity.role is not Role.ADVISOR or self._workflow is None:
            return False
        followup = await self._workflow.store.get_followup(jobseeker)
        return followup is not None and followup.advisor == conn.user_id

    async def _tell_advisor(self, user: str, stored: dict[str, Any]) -> None:
        if self._workflow is None:
            return
        try:
            followup = await self._workflow.store.get_followup(user)
            if followup is not None:
                await self._workflow.notifier.live(followup.room, events.precall(followup.room, user, stored))
        except RtError as exc:  # stored already: the advisor sees it in the portfolio when the store is back
            log.warning("could not tell %s's advisor about a pre-call check: %s", personal(user), exc.message)
