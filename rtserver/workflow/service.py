"""Portfolios: who follows whom, on top of the chat's conversation rooms.

- Assigning a jobseeker to an advisor (a volunteer for web follow-up) creates their
  conversation room ``followup-JOBSEEKER`` with both as members, within the advisor's cap.
- A transfer keeps the same room: the new advisor is added (and reads the whole history), the
  old one removed (he can no longer post or join, and his connections on every node leave the
  room; the room and history stay). Callback requests
  belong to the jobseeker, so they follow; scheduled appointments move to the new advisor.
  Everyone is told: a notice in the conversation, a live ``followup`` event, a webhook.
- Opting out only flips the status (the slot is freed, posting pauses, nothing is deleted);
  opting in takes a slot with the same advisor again.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ..auth import Role
from ..backends import MemberRole, PresenceBackend, RoomKind, Store
from ..errors import BadRequest, ErrorCode, Forbidden, RtError
from ..logprivacy import personal
from ..protocol import events
from .notify import Notifier, now_ms
from .settings import WorkflowConfig
from .store import (
    Appointment,
    AppointmentStatus,
    FollowUp,
    FollowUpStatus,
    TimerKind,
    User,
    WorkflowStore,
    followup_room,
)
from .webhooks import WebhookDispatcher

__all__ = ["PortfolioService"]

log = logging.getLogger(__name__)
MAX_CAS_RETRIES = 5


def not_found(what: str) -> RtError:
    return RtError(what, code=ErrorCode.NOT_FOUND)


class PortfolioService:
    def __init__(self, *, store: WorkflowStore, chat_store: Store, presence: PresenceBackend,
                 remove_member: Callable[[str, str], Awaitable[bool]], notifier: Notifier,
                 webhooks: WebhookDispatcher, config: WorkflowConfig, max_room_members: int):
        self._store = store
        self._chat = chat_store
        self._presence = presence
        self._remove_member = remove_member  # the chat service's: evicts the user's connections on every node
        self._notify = notifier
        self._webhooks = webhooks
        self._config = config
        self._max_members = max_room_members

    # -- users ---------------------------------------------------------------------------------
    async def put_user(self, user_id: str, *, name: str, role: Role, email: str, volunteer: bool) -> User:
        user = User(user_id, name, str(role), email, volunteer and role is Role.ADVISOR, now_ms())
        await self._store.put_user(user)
        return user

    async def user(self, user_id: str) -> User:
        found = (await self._store.get_users([user_id])).get(user_id)
        if found is None:
            raise not_found(f"no user {user_id!r}: create it with PUT /api/users/{{id}}")
        return found

    async def _volunteer(self, advisor_id: str) -> User:
        advisor = await self.user(advisor_id)
        if advisor.role != Role.ADVISOR or not advisor.volunteer:
            raise Forbidden(f"{advisor_id!r} is not an advisor volunteering for web follow-up")
        return advisor

    async def followup(self, jobseeker: str) -> FollowUp:
        found = await self._store.get_followup(jobseeker)
        if found is None:
            raise not_found(f"{jobseeker!r} has no follow-up")
        return found

    # -- assign, transfer, opt out and in ----------------------------------------------------------
    async def assign(self, jobseeker_id: str, advisor_id: str) -> FollowUp:
        advisor = await self._volunteer(advisor_id)
        jobseeker = await self.user(jobseeker_id)
        if jobseeker.role != Role.JOBSEEKER:
            raise BadRequest(f"{jobseeker_id!r} is not a jobseeker")
        room = followup_room(jobseeker_id)
        existing = await self._store.get_followup(jobseeker_id)
        repair = await self._will_repair(jobseeker_id, previous=None)
        try:
            followup = await self._store.assign(jobseeker_id, advisor_id, room=room, cap=self._config.portfolio_cap,
                                                now_ms=now_ms())
        except RtError:
            await self._store.unschedule(TimerKind.MEMBERSHIP, repair)  # refused: nothing changed
            raise
        # After the follow-up is recorded, so a refusal (cap) leaves no room behind; if this node
        # dies before the room is made, the repair timer makes it.
        await self._chat.create_room(room, RoomKind.CONVERSATION, f"{advisor.name} / {jobseeker.name}",
                                     {advisor_id: MemberRole.MEMBER, jobseeker_id: MemberRole.MEMBER},
                                     max_members=self._max_members)
        await self._store.unschedule(TimerKind.MEMBERSHIP, repair)
        if existing is None:
            await self._notify.notice(room, f"{advisor.name} vous accompagne désormais en ligne.")
            self._webhooks.emit("followup.assigned", followup.to_dict())
        return followup

    async def transfer(self, jobseeker_id: str, advisor_id: str) -> tuple[str, FollowUp]:
        advisor = await self._volunteer(advisor_id)
        current = await self._store.get_followup(jobseeker_id)
        repair = await self._will_repair(jobseeker_id, previous=current.advisor if current is not None else None)
        try:
            old_id, followup = await self._store.transfer(jobseeker_id, advisor_id, cap=self._config.portfolio_cap,
                                                          now_ms=now_ms())
        except RtError:
            await self._store.unschedule(TimerKind.MEMBERSHIP, repair)  # refused: nothing changed
            raise
        if old_id == advisor_id:
            await self._store.unschedule(TimerKind.MEMBERSHIP, repair)
            return old_id, followup
        room = followup.room
        jobseeker = await self.user(jobseeker_id)
        await self._chat.create_room(room, RoomKind.CONVERSATION, f"{advisor.name} / {jobseeker.name}",
                                     {advisor_id: MemberRole.MEMBER, jobseeker_id: MemberRole.MEMBER},
                                     max_members=self._max_members)
        old = (await self._store.get_users([old_id])).get(old_id)
        old_name = old.name if old is not None else old_id
        await self._notify.notice(room, f"Votre suivi passe de {old_name} à {advisor.name}. "
                                        "L'historique et vos demandes sont conservés.")
        # Published before the removal, so the old advisor's open tabs hear it too.
        await self._notify.live(room, events.followup(room, "transferred", followup.to_dict(), previous=old_id))
        await self._remove_member(room, old_id)  # on every node: its connections leave the room
        await self._move_appointments(jobseeker_id, advisor_id)
        await self._store.unschedule(TimerKind.MEMBERSHIP, repair)
        self._webhooks.emit("followup.transferred", {**followup.to_dict(), "from": old_id})
        return old_id, followup

    # -- repairing what a crash interrupted ----------------------------------------------------------
    # The follow-up is changed in one store transaction, but the conversation's members, the
    # notice and the appointments after it, in further steps: a node dying in between would leave
    # a new advisor outside the room or an old one in it. A timer set before the first step and
    # removed after the last lets any node finish the job after ``membership_repair_s``.
    async def _will_repair(self, jobseeker_id: str, *, previous: str | None) -> str:
        ref = f"{jobseeker_id}/{previous or ''}"  # "/" is not allowed in user ids
        await self._store.schedule(TimerKind.MEMBERSHIP, ref, now_ms() + self._config.membership_repair_ms)
        return ref

    async def repair_membership(self, ref: str) -> bool:
        """Make the conversation match the follow-up: the jobseeker and the advisor are members,
        the previous advisor (named in ``ref``) is not, and his scheduled appointments moved.
        Idempotent; returns True if anything had to change."""
        jobseeker_id, _, previous = ref.partition("/")
        followup = await self._store.get_followup(jobseeker_id)
        if followup is None:
            return False  # the assignment itself never happened (refused, or failed before)
        members = await self._chat.members(followup.room)
        changed = False
        if followup.advisor not in members or jobseeker_id not in members:
            found = await self._store.get_users([jobseeker_id, followup.advisor])
            names = [found[u].name if u in found else u for u in (followup.advisor, jobseeker_id)]
            await self._chat.create_room(followup.room, RoomKind.CONVERSATION, " / ".join(names),
                                         {followup.advisor: MemberRole.MEMBER, jobseeker_id: MemberRole.MEMBER},
                                         max_members=self._max_members)
            changed = True
        if previous and previous != followup.advisor:
            if previous in members:
                await self._remove_member(followup.room, previous)
                changed = True
            await self._move_appointments(jobseeker_id, followup.advisor)
        if changed:
            log.warning("follow-up of %s: completed an interrupted assignment or transfer", personal(jobseeker_id))
        return changed

    async def _move_appointments(self, jobseeker: str, new: str) -> None:
        """Every scheduled appointment of the jobseeker goes to the new advisor: the old one's, and
        any that a colleague covering the old one had scheduled."""
        for appointment in await self._store.appointments_of(jobseeker, limit=100):
            if appointment.status is AppointmentStatus.SCHEDULED and appointment.advisor != new:
                await self.update_appointment(appointment, lambda a: dataclasses.replace(
                    a, advisor=new, updated_ms=now_ms()) if a.advisor != new else None)

    async def update_appointment(self, appointment: Appointment, change: Any) -> Appointment | None:
        """Compare-and-set ``change(a)`` (None: nothing to do), re-reading on a lost race."""
        current: Appointment | None = appointment
        for _ in range(MAX_CAS_RETRIES):
            if current is None:
                return None
            updated = change(current)
            if updated is None:
                return current
            if await self._store.save_appointment(updated, expected_version=current.version):
                return dataclasses.replace(updated, version=current.version + 1)
            current = await self._store.get_appointment(appointment.id)
        raise RtError("the appointment kept changing: try again", code=ErrorCode.CONFLICT)

    async def set_status(self, jobseeker_id: str, status: FollowUpStatus, *, by: str | None) -> FollowUp:
        before = await self.followup(jobseeker_id)
        followup = await self._store.set_status(jobseeker_id, status, cap=self._config.portfolio_cap,
                                                now_ms=now_ms())
        if before.status is status:
            return followup
        event = "opted_out" if status is FollowUpStatus.OPTED_OUT else "opted_in"
        text = ("Le suivi en ligne est suspendu : le suivi continue avec l'agence. Tout l'historique est conservé."
                if status is FollowUpStatus.OPTED_OUT else "Le suivi en ligne reprend.")
        await self._notify.notice(followup.room, text, actor=by)
        await self._notify.live(followup.room, events.followup(followup.room, event, followup.to_dict()))
        self._webhooks.emit(f"followup.{event}", followup.to_dict())
        return followup

    # -- listings --------------------------------------------------------------------------------
    async def portfolio(self, advisor_id: str) -> list[dict[str, Any]]:
        """The advisor's active follow-ups with each jobseeker's name, presence and unread count."""
        followups = await self._store.portfolio(advisor_id)
        ids = [f.jobseeker for f in followups]
        users = await self._store.get_users(ids)
        presence = await self._presence.get(ids) if ids else {}
        rooms = {s.room: s for s in await self._chat.rooms_of(advisor_id, limit=10_000)}
        out = []
        for f in followups:
            user = users.get(f.jobseeker)
            info = presence.get(f.jobseeker)
            summary = rooms.get(f.room)
            out.append({**f.to_dict(), "name": user.name if user else f.jobseeker,
                        "presence": info.to_dict() if info else {"status": "offline"},
                        "unread": summary.unread if summary else 0,
                        "last_ts": summary.last_ts if summary else None})
        return out

    async def advisors(self, *, near_cap_only: bool) -> list[dict[str, Any]]:
        cap = self._config.portfolio_cap
        sizes = await self._store.portfolio_sizes()
        users = await self._store.get_users(await self._store.advisors())
        rows = []
        for advisor_id in sorted(set(users) | set(sizes)):
            size = sizes.get(advisor_id, 0)
            near = size >= cap * self._config.near_cap_ratio
            if near_cap_only and not near:
                continue
            user = users.get(advisor_id)
            rows.append({"advisor": advisor_id, "name": user.name if user else advisor_id,
                         "volunteer": bool(user and user.volunteer), "portfolio_size": size, "cap": cap,
                         "near_cap": near})
        return rows
