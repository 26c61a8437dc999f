"""Video interviews on a date: scheduled by the advisor, reminded, joined, held or missed.

An appointment's interview happens in the follow-up room's media room (same id), so joining one
(``appointment_join``) records the join and answers the room to ``media_join``. Timers drive the
rest, claimed by exactly one node: a reminder per configured lead time (a live
``appointment_reminder`` event and a mail to each side with an address), and, at
``appointment_missed_after_s`` after the start, the verdict: held when both sides joined,
otherwise missed (``missed_by`` names who did not come; webhook ``appointment.missed``).

Advisors schedule, cancel and join only for a jobseeker they currently follow, or whose advisor
they cover (``access.py``): the appointment is then the covering colleague's, recorded in
``covered``. Jobseekers cancel and join their own.
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

from ..errors import BadRequest, ErrorCode, Forbidden, RtError
from ..protocol import events
from .access import Acting, CoverService
from .mail import Mailer
from .notify import Notifier, now_ms
from .service import PortfolioService, not_found
from .settings import WorkflowConfig
from .store import Appointment, AppointmentStatus, FollowUpStatus, TimerKind, WorkflowStore
from .webhooks import WebhookDispatcher
from .when import service_time

__all__ = ["AppointmentService"]

JOIN_EARLY_MS = 15 * 60_000  # the interview room opens this long before the start
MAX_LISTED = 200


def notice_data(event: str, appointment: Appointment) -> dict[str, Any]:
    """What a page needs to write an appointment notice itself: the start as an instant (ms), in
    its reader's time zone and language (docs/workflow.md#notices)."""
    return {"notice": "appointment", "event": event, "start": appointment.start_ms,
            "duration_min": appointment.duration_min}


class AppointmentService:
    def __init__(self, *, store: WorkflowStore, portfolios: PortfolioService, access: CoverService,
                 notifier: Notifier, mailer: Mailer, webhooks: WebhookDispatcher, config: WorkflowConfig):
        self._store = store
        self._portfolios = portfolios
        self._access = access
        self._notify = notifier
        self._mailer = mailer
        self._webhooks = webhooks
        self._config = config

    def _when(self, ms: int) -> str:
        return service_time(ms, self._config.zone)

    async def schedule(self, advisor: str, jobseeker: str, *, start_ms: int, duration_min: int) -> Appointment:
        followup = await self._portfolios.followup(jobseeker)
        acting = await self._access.authorize(advisor, jobseeker)
        if followup.status is not FollowUpStatus.ACTIVE:
            raise Forbidden("web follow-up is paused for this jobseeker")
        now = now_ms()
        if start_ms <= now:
            raise BadRequest("'start' must be in the future")
        if not 1 <= duration_min <= self._config.max_duration_min:
            raise BadRequest(f"'duration_min' must be from 1 to {self._config.max_duration_min}")
        appointment = Appointment(secrets.token_hex(8), advisor, jobseeker, followup.room, start_ms, duration_min,
                                  AppointmentStatus.SCHEDULED, now, now,
                                  covered=acting.audit("appointment_scheduled", now))
        await self._store.save_appointment(appointment, expected_version=None)
        appointment = dataclasses.replace(appointment, version=1)
        for lead_s in self._config.reminder_leads_s:
            due = start_ms - lead_s * 1000
            if due > now:
                await self._store.schedule(TimerKind.REMINDER, f"{appointment.id}:{lead_s}", due)
        await self._store.schedule(TimerKind.APPOINTMENT_END, appointment.id, start_ms + self._config.missed_after_ms)
        await self._announce(appointment, "scheduled", actor=advisor,
                             text=f"Entretien vidéo prévu le {self._when(start_ms)} ({duration_min} min).")
        self._access.used(acting, "appointment_scheduled", appointment=appointment.id, jobseeker=jobseeker)
        return appointment

    async def get(self, appointment_id: str, user_id: str | None = None) -> Appointment:
        found = await self._store.get_appointment(appointment_id)
        if found is None or (user_id is not None and user_id not in (found.advisor, found.jobseeker)):
            raise not_found(f"no appointment {appointment_id!r}")
        return found

    async def _party(self, appointment_id: str, user_id: str, *, advisor: bool) -> tuple[Appointment, Acting | None]:
        """The appointment, if ``user_id`` may act on it: its jobseeker, or (``advisor``) the
        jobseeker's current advisor or a colleague covering him, whoever's name it bears."""
        found = await self._store.get_appointment(appointment_id)
        if found is None or (not advisor and user_id != found.jobseeker):
            raise not_found(f"no appointment {appointment_id!r}")
        return found, (await self._access.authorize(user_id, found.jobseeker) if advisor else None)

    async def cancel(self, appointment_id: str, user_id: str, *, advisor: bool) -> Appointment:
        before, acting = await self._party(appointment_id, user_id, advisor=advisor)

        def change(a: Appointment) -> Appointment:
            if a.status is not AppointmentStatus.SCHEDULED:
                raise RtError(f"the appointment is {a.status}", code=ErrorCode.CONFLICT)
            now = now_ms()
            covered = acting.audit("appointment_cancelled", now) if acting is not None else ()
            return dataclasses.replace(a, status=AppointmentStatus.CANCELLED, updated_ms=now,
                                       covered=(*a.covered, *covered))

        appointment = await self._portfolios.update_appointment(before, change)
        assert appointment is not None
        await self._store.unschedule(TimerKind.APPOINTMENT_END, appointment.id)
        await self._announce(appointment, "cancelled", actor=user_id,
                             text=f"Entretien du {self._when(appointment.start_ms)} annulé.")
        if acting is not None:
            self._access.used(acting, "appointment_cancelled", appointment=appointment.id,
                              jobseeker=appointment.jobseeker)
        return appointment

    async def join(self, appointment_id: str, user_id: str, *, advisor: bool) -> Appointment:
        """Record the join; the caller then joins the interview with ``media_join`` on ``room``."""
        now = now_ms()

        def change(a: Appointment) -> Appointment | None:
            if a.status not in (AppointmentStatus.SCHEDULED, AppointmentStatus.HELD):
                raise RtError(f"the appointment is {a.status}", code=ErrorCode.CONFLICT)
            if not a.start_ms - JOIN_EARLY_MS <= now <= a.end_ms:
                raise Forbidden("the interview room opens 15 minutes before the start and closes at the end")
            if user_id in a.joined:
                return None
            joined = {**a.joined, user_id: now}
            both = a.advisor in joined and a.jobseeker in joined
            return dataclasses.replace(a, joined=joined, updated_ms=now,
                                       status=AppointmentStatus.HELD if both else a.status)

        before, _ = await self._party(appointment_id, user_id, advisor=advisor)
        if advisor and user_id != before.advisor:
            raise Forbidden("the interview is held by the advisor it names")
        appointment = await self._portfolios.update_appointment(before, change)
        assert appointment is not None
        if user_id not in before.joined:
            await self._notify.live(appointment.room, events.appointment(appointment.room, "joined",
                                                                         appointment.to_dict(), user=user_id))
        return appointment

    async def of(self, user_id: str) -> list[Appointment]:
        return await self._store.appointments_of(user_id, limit=MAX_LISTED)

    # -- timers ----------------------------------------------------------------------------------
    async def remind(self, ref: str) -> None:
        appointment_id, _, lead = ref.rpartition(":")
        appointment = await self._store.get_appointment(appointment_id)
        if appointment is None or appointment.status is not AppointmentStatus.SCHEDULED:
            return
        starts_in_s = max(0, (appointment.start_ms - now_ms()) // 1000)
        await self._notify.live(appointment.room, events.appointment_reminder(appointment.room, starts_in_s, int(lead),
                                                                              appointment.to_dict()))
        users = await self._store.get_users([appointment.advisor, appointment.jobseeker])
        for user in users.values():
            if user.email:
                await self._mailer.send(
                    user.email, f"Rappel : entretien vidéo le {self._when(appointment.start_ms)}",
                    f"Bonjour {user.name},\n\nVotre entretien vidéo a lieu le {self._when(appointment.start_ms)} "
                    f"({appointment.duration_min} min). Rejoignez-le depuis votre espace de suivi en ligne.\n")

    async def conclude(self, appointment_id: str) -> None:
        """After the start plus the grace period: missed unless both sides joined."""
        appointment = await self._store.get_appointment(appointment_id)
        if appointment is None or appointment.status is not AppointmentStatus.SCHEDULED:
            return

        def change(a: Appointment) -> Appointment | None:
            if a.status is not AppointmentStatus.SCHEDULED:
                return None
            absent = tuple(u for u in (a.advisor, a.jobseeker) if u not in a.joined)
            return dataclasses.replace(a, status=AppointmentStatus.MISSED, missed_by=absent, updated_ms=now_ms())

        concluded = await self._portfolios.update_appointment(appointment, change)
        if concluded is None or concluded.status is not AppointmentStatus.MISSED:
            return
        await self._announce(concluded, "missed", actor=None,
                             text=f"Entretien du {self._when(concluded.start_ms)} manqué.")
        self._webhooks.emit("appointment.missed", concluded.to_dict())

    async def _announce(self, appointment: Appointment, event: str, *, actor: str | None, text: str) -> None:
        await self._notify.notice(appointment.room, text, actor=actor, data=notice_data(event, appointment))
        await self._notify.live(appointment.room, events.appointment(appointment.room, event, appointment.to_dict()))
