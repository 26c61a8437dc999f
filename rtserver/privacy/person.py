"""``PersonData``: everything the node holds about one person, exported in pages or erased.

Export (``page``): the first page holds the person's records (profile, follow-up, the follow-ups
they hold as an advisor, a legal hold, callback requests, appointments, pre-call results, their
rooms); every page then holds up to ``page_max`` items of the long parts: every message of every
room they are a member of (written or received; their own follow-up's room even if no longer a
member), room by room in id order, then every access journal entry about them. ``next`` is
the cursor of the following page, null on the last.

Erasure (``erase``), refused with ``legal_hold`` while a hold is on their follow-up:

1. in each of those rooms, their messages become tombstones and the notices quoting their
   callback reasons are scrubbed (``Store.erase_sender``; offsets unchanged, so clients resume
   across it with no gap);
2. the workflow's records of them go (``WorkflowStore.erase_person``: profile, e-mail address,
   callback requests, appointments, pending digest...), and their pre-call results;
3. their live connections are closed (4100: the token stays refused by nothing but the portal,
   which must stop issuing them), on this node and, through the node inboxes, on every node
   that holds one (``PresenceBackend.nodes_of``).

What a pending digest mail to the other party would list is read when it is sent: it finds the
tombstones. Access journal entries about the person stay for their retention (they say who read
the file, which the person may still ask about); the erasure itself is one of them.
Every step is idempotent: an erasure cut short (a node dying, Redis unreachable: ``unavailable``)
is finished by asking again.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from ..audit.journal import AccessJournal
from ..backends import Broker, PresenceBackend, Store
from ..delivery.hub import Hub
from ..errors import CloseCode, ErrorCode, RtError
from ..logprivacy import personal
from ..precall.results import CheckResults
from ..workflow.callbacks import quoted
from ..workflow.notify import now_ms
from ..workflow.store import WorkflowStore, followup_room
from . import cursor as cursors

__all__ = ["CLOSE_OP", "MAX_RECORDS", "MAX_ROOMS", "PersonData"]

log = logging.getLogger(__name__)

# Rooms of one person listed by an export or erasure: a jobseeker has one conversation, an advisor
# at most portfolio_cap (150) plus groups and sessions; 10,000 is far past either.
MAX_ROOMS = 10_000
# Callbacks, appointments and pre-call results of one person in the first page: each is bounded
# by its retention (a year) and by callback_max_open / precall_history; 10,000 is far past them.
MAX_RECORDS = 10_000
CLOSE_OP = "close_user"  # the node inbox message that closes a user's connections there
CLOSE_REASON = "this account's data was erased"


class PersonData:
    def __init__(self, *, chat: Store, workflow: WorkflowStore, checks: CheckResults, journal: AccessJournal,
                 hub: Hub, broker: Broker, presence: PresenceBackend, node_id: str, page_max: int):
        if page_max < 1:
            raise ValueError("person_export_page_max must be at least 1")
        self._chat, self.workflow, self._checks, self._journal = chat, workflow, checks, journal
        self._hub, self._broker, self._presence = hub, broker, presence
        self._node = node_id
        self.page_max = page_max

    async def rooms(self, user_id: str) -> list[str]:
        """The rooms the person is a member of, and their follow-up's room, in id order."""
        found = {s.room for s in await self._chat.rooms_of(user_id, limit=MAX_ROOMS)}
        own = followup_room(user_id)
        if own not in found and await self._chat.get_room(own) is not None:
            found.add(own)  # kept after an opt-out; the jobseeker is always its member, but be sure
        return sorted(found)

    # -- export ------------------------------------------------------------------------------------
    async def page(self, user_id: str, cursor: str | None, limit: int) -> dict[str, Any]:
        limit = max(1, min(limit, self.page_max))
        out: dict[str, Any] = {"user": user_id}
        if cursor is None:
            out.update(await self._records(user_id))
            position: cursors.Position = ("m", "", 0, 0)
        else:
            position = cursors.decode(cursor)
        messages: list[dict[str, Any]] = []
        budget = limit
        out["messages"], out["access_journal"], out["next"] = messages, [], None
        if position[0] == "m":
            start_room, after = position[1], position[2]
            for room in [r for r in await self.rooms(user_id) if r >= start_room]:
                page = await self._chat.read_after(room, after if room == start_room else 0, budget)
                messages += [m.to_event() for m in page]
                budget -= len(page)
                if budget == 0:
                    out["next"] = cursors.encode(("m", room, page[-1].offset, 0))
                    return out
            position = ("j", "", 0, 0)
        after_entry = None if position[2] == 0 and position[3] == 0 else (position[2], position[3])
        journal = await self._journal.store.query(subject=user_id, actor=None, since=0, after=after_entry,
                                                  limit=budget)
        out["access_journal"] = [e.to_dict() for e in journal.entries]
        if journal.next is not None:
            out["next"] = cursors.encode(("j", "", journal.next[0], journal.next[1]))
        return out

    async def _records(self, user_id: str) -> dict[str, Any]:
        wf = self.workflow
        profile = (await wf.get_users([user_id])).get(user_id)
        followup = await wf.get_followup(user_id)
        hold = await wf.get_hold(user_id)
        now = now_ms()
        return {
            "exported_at": now,
            "profile": None if profile is None else profile.to_dict(),
            "followup": None if followup is None else followup.to_dict(),
            "hold": None if hold is None else hold.to_dict(),
            "portfolio": [f.to_dict() for f in await wf.portfolio(user_id)],
            "callbacks": [c.to_dict(now) for c in await wf.callbacks_of(user_id, limit=MAX_RECORDS)],
            "appointments": [a.to_dict() for a in await wf.appointments_of(user_id, limit=MAX_RECORDS)],
            "precall": await self._checks.history(user_id, limit=MAX_RECORDS),
            "rooms": await self.rooms(user_id),
        }

    # -- erasure -----------------------------------------------------------------------------------
    async def refuse_if_held(self, user_id: str) -> None:
        hold = await self.workflow.get_hold(user_id)
        if hold is not None:
            raise RtError(f"a legal hold ({hold.reference!r}) is on this follow-up: lift it first "
                          f"(DELETE /api/followups/{user_id}/hold)", code=ErrorCode.LEGAL_HOLD)

    async def erase(self, user_id: str) -> dict[str, Any]:
        """Erase the person's data (after ``refuse_if_held``); what went, in counts."""
        await self.refuse_if_held(user_id)
        callbacks = await self.workflow.callbacks_of(user_id, limit=MAX_RECORDS)
        scrub = sorted({quoted(c.reason) for c in callbacks if c.reason.strip()})
        # Closed first, so that no message of theirs is being sent while their rooms are rewritten,
        # and again at the end for a connection opened meanwhile (their token is still valid).
        closed = await self.close_everywhere(user_id)
        rooms = await self.rooms(user_id)
        messages = 0
        for room in rooms:
            messages += await self._chat.erase_sender(room, user_id, scrub=scrub)
        counts = await self.workflow.erase_person(user_id)
        precall = await self._checks.erase(user_id)
        closed += await self.close_everywhere(user_id)
        log.info("erased the data of %s: %d messages in %d rooms", personal(user_id), messages, len(rooms))
        return {"user": user_id, "rooms": len(rooms), "messages": messages, **counts, "precall": precall,
                "connections_closed_here": closed}

    async def close_everywhere(self, user_id: str) -> int:
        closed = self.close_here(user_id)
        for node in sorted(await self._presence.nodes_of(user_id) - {self._node}):
            with contextlib.suppress(RtError):  # a node gone meanwhile holds no connection any more
                await self._broker.send_to_node(node, {"op": CLOSE_OP, "user": user_id, "from": self._node})
        return closed

    def close_here(self, user_id: str) -> int:
        conns = list(self._hub.user_connections(user_id))
        for conn in conns:
            conn.close_soon(CloseCode.UNAUTHORIZED, CLOSE_REASON)
        return len(conns)

    def on_node_message(self, message: dict[str, Any]) -> None:
        """Another node erased a user: close their connections here."""
        user = message.get("user")
        if isinstance(user, str):
            self.close_here(user)
