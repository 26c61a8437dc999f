"""The workflow's WebSocket requests, and the hooks it adds to the chat's ``send`` in follow-up rooms.

Handlers take the connection and the parsed request and return the reply, like the chat's.
Who may do what is decided here from the token's role: jobseekers ask for and cancel callbacks
and opt out or in; advisors claim, record outcomes and schedule appointments; both list theirs
and join appointments. Which jobseekers an advisor may act on is the services' check
(``access.py``: the current advisor, or a colleague covering him), made on every request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..audit.chain import AccessKind
from ..audit.journal import ws_request_id
from ..auth import Role
from ..backends import StoredMessage
from ..delivery.connection import Connection
from ..errors import Forbidden
from ..protocol import Send, events
from ..protocol.workflow import (
    AppointmentCancel,
    AppointmentCreate,
    AppointmentJoin,
    CallbackCancel,
    CallbackClaim,
    CallbackOutcomeRequest,
    CallbackRequest,
    FollowUpOptIn,
    FollowUpOptOut,
    GetFollowUp,
    ListAppointments,
    ListCallbacks,
)
from .notify import now_ms
from .store import FollowUpStatus, jobseeker_of_room

if TYPE_CHECKING:
    from .runtime import Workflow

__all__ = ["LiveRequests"]

Handler = Callable[[Connection, Any], Awaitable[dict[str, Any] | None]]


def _role(conn: Connection, role: Role) -> str:
    assert conn.identity is not None
    if conn.identity.role is not role:
        raise Forbidden(f"only a {role} may do this")
    return conn.identity.user_id


def _is_advisor(conn: Connection) -> bool:
    assert conn.identity is not None
    return conn.identity.role is Role.ADVISOR


class LiveRequests:
    def __init__(self, workflow: Workflow):
        self._wf = workflow

    def routes(self) -> dict[type, Handler]:
        return {
            CallbackRequest: self.callback_request, CallbackCancel: self.callback_cancel,
            CallbackClaim: self.callback_claim, CallbackOutcomeRequest: self.callback_outcome,
            ListCallbacks: self.callbacks, AppointmentCreate: self.appointment_create,
            AppointmentCancel: self.appointment_cancel, AppointmentJoin: self.appointment_join,
            ListAppointments: self.appointments, GetFollowUp: self.followup, FollowUpOptOut: self.opt_out,
            FollowUpOptIn: self.opt_in,
        }

    # -- chat send in follow-up rooms (the chat's hooks) -------------------------------------------
    async def before_send(self, conn: Connection, req: Send) -> None:
        jobseeker = jobseeker_of_room(req.room)
        if jobseeker is not None:
            await self._wf.check_may_post(conn, req.room, jobseeker)

    def after_send(self, conn: Connection, req: Send, message: StoredMessage) -> None:
        jobseeker = jobseeker_of_room(req.room)
        if jobseeker is not None:
            self._wf.after_message(req.room, jobseeker, conn.user_id, message.ts_ms)

    # -- callbacks -------------------------------------------------------------------------------
    async def callback_request(self, conn: Connection, req: CallbackRequest) -> dict[str, Any]:
        user = _role(conn, Role.JOBSEEKER)
        cb = await self._wf.callbacks.request(user, reason=req.reason, channel=req.channel, windows=req.windows)
        return events.callback_reply(req.id, cb.to_dict(now_ms()))

    async def callback_cancel(self, conn: Connection, req: CallbackCancel) -> dict[str, Any]:
        cb = await self._wf.callbacks.cancel(req.callback, _role(conn, Role.JOBSEEKER))
        return events.callback_reply(req.id, cb.to_dict(now_ms()))

    async def callback_claim(self, conn: Connection, req: CallbackClaim) -> dict[str, Any]:
        cb = await self._wf.callbacks.claim(req.callback, _role(conn, Role.ADVISOR))
        return events.callback_reply(req.id, cb.to_dict(now_ms()))

    async def callback_outcome(self, conn: Connection, req: CallbackOutcomeRequest) -> dict[str, Any]:
        cb = await self._wf.callbacks.outcome(req.callback, _role(conn, Role.ADVISOR), req.outcome, note=req.note,
                                              windows=req.windows)
        return events.callback_reply(req.id, cb.to_dict(now_ms()))

    async def callbacks(self, conn: Connection, req: ListCallbacks) -> dict[str, Any]:
        assert conn.identity is not None
        if conn.identity.role is Role.ADVISOR:
            found = await self._wf.callbacks.queue(req.advisor or conn.user_id, actor=conn.user_id)
        else:
            found = await self._wf.callbacks.of(conn.user_id)
        now = now_ms()
        return events.callbacks_reply(req.id, [cb.to_dict(now) for cb in found])

    # -- appointments ----------------------------------------------------------------------------
    async def appointment_create(self, conn: Connection, req: AppointmentCreate) -> dict[str, Any]:
        appointment = await self._wf.appointments.schedule(_role(conn, Role.ADVISOR), req.jobseeker,
                                                           start_ms=req.start, duration_min=req.duration_min)
        return events.appointment_reply(req.id, appointment.to_dict())

    async def appointment_cancel(self, conn: Connection, req: AppointmentCancel) -> dict[str, Any]:
        appointment = await self._wf.appointments.cancel(req.appointment, conn.user_id, advisor=_is_advisor(conn))
        return events.appointment_reply(req.id, appointment.to_dict())

    async def appointment_join(self, conn: Connection, req: AppointmentJoin) -> dict[str, Any]:
        appointment = await self._wf.appointments.join(req.appointment, conn.user_id, advisor=_is_advisor(conn))
        return events.appointment_reply(req.id, appointment.to_dict(), room=appointment.room)

    async def appointments(self, conn: Connection, req: ListAppointments) -> dict[str, Any]:
        found = await self._wf.appointments.of(conn.user_id)
        return events.appointments_reply(req.id, [a.to_dict() for a in found])

    # -- follow-up -------------------------------------------------------------------------------
    async def followup(self, conn: Connection, req: GetFollowUp) -> dict[str, Any]:
        assert conn.identity is not None
        if conn.identity.role is Role.ADVISOR:
            rows = await self._wf.portfolio(conn.user_id)
            await self._wf.journal.record(AccessKind.PORTFOLIO_READ, [r["jobseeker"] for r in rows], actor=conn.user_id,
                                          request=ws_request_id(conn.id, req.id))
            return events.portfolio_reply(req.id, rows)
        found = await self._wf.store.get_followup(conn.user_id)
        return events.followup_reply(req.id, None if found is None else found.to_dict())

    async def opt_out(self, conn: Connection, req: FollowUpOptOut) -> dict[str, Any]:
        user = _role(conn, Role.JOBSEEKER)
        found = await self._wf.portfolios.set_status(user, FollowUpStatus.OPTED_OUT, by=user)
        return events.followup_reply(req.id, found.to_dict())

    async def opt_in(self, conn: Connection, req: FollowUpOptIn) -> dict[str, Any]:
        user = _role(conn, Role.JOBSEEKER)
        found = await self._wf.portfolios.set_status(user, FollowUpStatus.ACTIVE, by=user)
        return events.followup_reply(req.id, found.to_dict())
