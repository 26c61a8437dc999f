"""HTTP API of the follow-up workflow for portals (``X-Api-Key``), and its OpenAPI description.

Errors are ``{"error": {"code", "message"}}`` with the wire codes of ``rtserver.errors``; the
HTTP status follows the code (``not_found`` 404, ``portfolio_full`` and ``conflict`` 409...).
The description of the whole HTTP API is ``openapi.json`` next to this module, served at
``/api/openapi.json`` (a test checks that every ``/api`` route is in it).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from ..audit.chain import AccessKind
from ..audit.journal import record_http
from ..auth import Role, name_problem
from ..errors import BadRequest
from ..node.httpkit import keyed, user_id
from ..node.params import int_field, int_query, json_object
from ..node.ws import NODE_KEY
from ..protocol.precall import DEFAULT_RESULTS_PAGE, MAX_RESULTS_PAGE
from ..protocol.requests import _invalid
from ..protocol.workflow import (
    MAX_MS,
    MAX_REASON_CHARS,
    CallbackChannel,
    one_line,
    outcome_fields,
    parse_windows,
)
from .notify import now_ms
from .runtime import WORKFLOW_KEY, Workflow
from .store import FollowUpStatus, followup_room

__all__ = ["OPENAPI_PATH", "workflow_routes"]

OPENAPI_PATH = Path(__file__).with_name("openapi.json")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}$")
MAX_NAME_CHARS = 200
EXPORT_PAGE_MAX = 1000

Handler = Callable[[web.Request, Workflow], Awaitable[Any]]


def endpoint(status: int = 200) -> Callable[[Handler], Callable[[web.Request], Awaitable[web.Response]]]:
    """An API endpoint (``httpkit.keyed``: key check, JSON body, errors with their status) given the workflow."""

    def wrap(handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        @keyed(status)
        @functools.wraps(handler)
        async def run(request: web.Request) -> Any:
            return await handler(request, request.app[WORKFLOW_KEY])

        return run

    return wrap


def _text(body: dict[str, Any], name: str, max_chars: int, *, required: bool = True) -> str:
    value = body.get(name, None if required else "")
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > max_chars:
        raise BadRequest(f"'{name}' must be a {'non-empty ' if required else ''}string of at most {max_chars} "
                         "characters")
    return value


# -- users ---------------------------------------------------------------------------------------
@endpoint()
async def put_user(request: web.Request, wf: Workflow) -> Any:
    uid = user_id(request.match_info["user"])
    body = await json_object(request)
    try:
        role = Role(body.get("role", ""))  # missing: refused below, as a wrong one
    except ValueError:
        raise BadRequest("'role' must be advisor or jobseeker") from None
    email = _text(body, "email", 254, required=False)
    if email and not EMAIL.fullmatch(email):  # match() would let a trailing newline through to mail headers
        raise BadRequest("'email' is not an e-mail address")
    volunteer = body.get("volunteer", False)
    if not isinstance(volunteer, bool):
        raise BadRequest("'volunteer' must be true or false")
    name = _text(body, "name", MAX_NAME_CHARS)
    if (problem := name_problem(name, MAX_NAME_CHARS)) is not None:  # shown to others as tokens' names are
        raise BadRequest(f"'name' {problem}")
    user = await wf.portfolios.put_user(uid, name=name, role=role, email=email,
                                        volunteer=volunteer)
    return user.to_dict()


@endpoint()
async def get_user(request: web.Request, wf: Workflow) -> Any:
    return (await wf.portfolios.user(user_id(request.match_info["user"]))).to_dict()


# -- follow-ups ----------------------------------------------------------------------------------
@endpoint(201)
async def assign(request: web.Request, wf: Workflow) -> Any:
    body = await json_object(request)
    followup = await wf.portfolios.assign(user_id(body.get("jobseeker"), "'jobseeker'"), user_id(body.get("advisor"),
                                                                                         "'advisor'"))
    return followup.to_dict()


@endpoint()
async def get_followup(request: web.Request, wf: Workflow) -> Any:
    return (await wf.portfolios.followup(user_id(request.match_info["jobseeker"]))).to_dict()


@endpoint()
async def transfer(request: web.Request, wf: Workflow) -> Any:
    body = await json_object(request)
    jobseeker, advisor = user_id(request.match_info["jobseeker"]), user_id(body.get("advisor"), "'advisor'")
    await record_http(request, AccessKind.TRANSFER, jobseeker, {"to": advisor})  # the new advisor reads it all
    previous, followup = await wf.portfolios.transfer(jobseeker, advisor)
    return {**followup.to_dict(), "previous_advisor": previous}


@endpoint()
async def opt_out(request: web.Request, wf: Workflow) -> Any:
    return (await wf.portfolios.set_status(user_id(request.match_info["jobseeker"]), FollowUpStatus.OPTED_OUT,
                                           by=None)).to_dict()


@endpoint()
async def opt_in(request: web.Request, wf: Workflow) -> Any:
    return (await wf.portfolios.set_status(user_id(request.match_info["jobseeker"]), FollowUpStatus.ACTIVE,
                                           by=None)).to_dict()


@endpoint()
async def export(request: web.Request, wf: Workflow) -> Any:
    """The conversation (a page of messages, oldest first) with the callbacks and appointments."""
    jobseeker = user_id(request.match_info["jobseeker"])
    followup = await wf.portfolios.followup(jobseeker)
    await record_http(request, AccessKind.CONVERSATION_EXPORT, jobseeker, {"room": followup.room})
    after = int_query(request.query, "after", 0, 0, 2**62, clamp=True)
    limit = int_query(request.query, "limit", EXPORT_PAGE_MAX, 1, EXPORT_PAGE_MAX, clamp=True)
    messages = await request.app[NODE_KEY].backends.store.read_after(followup_room(jobseeker), after, limit)
    now = now_ms()
    return {"followup": followup.to_dict(), "room": followup.room, "messages": [m.to_event() for m in messages],
            "more": len(messages) == limit,
            "callbacks": [cb.to_dict(now) for cb in await wf.callbacks.of(jobseeker)],
            "appointments": [a.to_dict() for a in await wf.appointments.of(jobseeker)]}


# -- advisors ------------------------------------------------------------------------------------
@endpoint()
async def advisors(request: web.Request, wf: Workflow) -> Any:
    near = request.query.get("near_cap", "false").lower() in ("1", "true", "yes")
    return {"cap": wf.config.portfolio_cap, "advisors": await wf.portfolios.advisors(near_cap_only=near)}


@endpoint()
async def portfolio(request: web.Request, wf: Workflow) -> Any:
    advisor = user_id(request.match_info["advisor"])
    rows = await wf.portfolio(advisor)
    await record_http(request, AccessKind.PORTFOLIO_READ, [r["jobseeker"] for r in rows], {"advisor": advisor})
    return {"advisor": advisor, "cap": wf.config.portfolio_cap, "size": len(rows), "portfolio": rows}


@endpoint()
async def queue(request: web.Request, wf: Workflow) -> Any:
    """The advisor's queue; ``?as=ADVISOR`` lists it for that advisor (himself, or a colleague
    covering him), for a portal showing it in someone's console."""
    actor = request.query.get("as")
    found = await wf.callbacks.queue(user_id(request.match_info["advisor"]),
                                     actor=None if actor is None else user_id(actor, "'as'"))
    now = now_ms()
    return {"callbacks": [cb.to_dict(now) for cb in found]}


# -- covers: a colleague acting on an advisor's portfolio ------------------------------------------
@endpoint(201)
async def grant_cover(request: web.Request, wf: Workflow) -> Any:
    body = await json_object(request)
    until = int_field(body, "until", 0, MAX_MS)  # ms since the epoch
    cover = await wf.covers.grant(user_id(request.match_info["advisor"]), user_id(body.get("colleague"), "'colleague'"),
                                  until)
    return cover.to_dict(now_ms())


@endpoint()
async def list_covers(request: web.Request, wf: Workflow) -> Any:
    advisor = user_id(request.match_info["advisor"])
    return {"advisor": advisor, "covers": await wf.covers.of(advisor)}


@endpoint()
async def revoke_cover(request: web.Request, wf: Workflow) -> Any:
    cover = await wf.covers.revoke(user_id(request.match_info["advisor"]), user_id(request.match_info["colleague"]))
    return cover.to_dict(now_ms())


@endpoint()
async def advisor_figures(request: web.Request, wf: Workflow) -> Any:
    return await wf.figures.advisor(user_id(request.match_info["advisor"]))


@endpoint()
async def all_figures(request: web.Request, wf: Workflow) -> Any:
    return {"advisors": await wf.figures.all()}


# -- callbacks -----------------------------------------------------------------------------------
@endpoint()
async def jobseeker_callbacks(request: web.Request, wf: Workflow) -> Any:
    now = now_ms()
    return {"callbacks": [cb.to_dict(now) for cb in await wf.callbacks.of(user_id(request.match_info["jobseeker"]))]}


@endpoint(201)
async def create_callback(request: web.Request, wf: Workflow) -> Any:
    """A portal asks for a callback on the jobseeker's behalf (e.g. from its own form)."""
    jobseeker = user_id(request.match_info["jobseeker"])
    body = await json_object(request)
    try:
        channel = CallbackChannel(body.get("channel", ""))  # missing: refused below, as a wrong one
    except ValueError:
        raise _invalid("'channel' must be video or phone") from None
    windows = parse_windows(body.get("windows"))
    cb = await wf.callbacks.request(jobseeker, reason=one_line(body.get("reason"), "reason", MAX_REASON_CHARS),
                                    channel=channel, windows=windows)
    return cb.to_dict(now_ms())


@endpoint()
async def claim_callback(request: web.Request, wf: Workflow) -> Any:
    """A portal claims on an advisor's behalf: the same rights as over WebSocket."""
    body = await json_object(request)
    cb = await wf.callbacks.claim(user_id(request.match_info["callback"], "callback id"),
                                  user_id(body.get("advisor"), "'advisor'"))
    return cb.to_dict(now_ms())


@endpoint()
async def callback_outcome(request: web.Request, wf: Workflow) -> Any:
    body = await json_object(request)
    outcome, note, windows = outcome_fields(body)  # as over WebSocket
    cb = await wf.callbacks.outcome(user_id(request.match_info["callback"], "callback id"),
                                    user_id(body.get("advisor"), "'advisor'"), outcome, note=note, windows=windows)
    return cb.to_dict(now_ms())


@endpoint()
async def get_callback(request: web.Request, wf: Workflow) -> Any:
    return (await wf.callbacks.get(user_id(request.match_info["callback"], "callback id"))).to_dict(now_ms())


# -- appointments --------------------------------------------------------------------------------
@endpoint(201)
async def create_appointment(request: web.Request, wf: Workflow) -> Any:
    body = await json_object(request)
    start, duration = int_field(body, "start", 0, MAX_MS), int_field(body, "duration_min", 1)
    appointment = await wf.appointments.schedule(user_id(body.get("advisor"), "'advisor'"),
                                                 user_id(body.get("jobseeker"), "'jobseeker'"), start_ms=start,
                                                 duration_min=duration)
    return appointment.to_dict()


@endpoint()
async def cancel_appointment(request: web.Request, wf: Workflow) -> Any:
    """Cancelled on behalf of ``by``: the jobseeker, or an advisor who may act on their follow-up."""
    body = await json_object(request)
    by = await wf.portfolios.user(user_id(body.get("by"), "'by'"))
    appointment = await wf.appointments.cancel(user_id(request.match_info["appointment"], "appointment id"), by.id,
                                               advisor=by.role == Role.ADVISOR)
    return appointment.to_dict()


@endpoint()
async def get_appointment(request: web.Request, wf: Workflow) -> Any:
    return (await wf.appointments.get(user_id(request.match_info["appointment"], "appointment id"))).to_dict()


@endpoint()
async def user_appointments(request: web.Request, wf: Workflow) -> Any:
    return {"appointments": [a.to_dict() for a in await wf.appointments.of(user_id(request.match_info["user"]))]}


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(json.loads(OPENAPI_PATH.read_text()))


@endpoint()
async def user_checks(request: web.Request, wf: Workflow) -> Any:
    user = user_id(request.match_info["user"])
    limit = int_query(request.query, "limit", DEFAULT_RESULTS_PAGE, 1, MAX_RESULTS_PAGE)
    return {"user": user, "results": [] if wf.checks is None else await wf.checks.history(user, limit=limit)}


def workflow_routes() -> list[web.RouteDef]:
    return [
        web.get("/api/openapi.json", openapi),
        web.put("/api/users/{user}", put_user),
        web.get("/api/users/{user}", get_user),
        web.get("/api/users/{user}/appointments", user_appointments),
        web.get("/api/users/{user}/precall", user_checks),
        web.post("/api/followups", assign),
        web.get("/api/followups/{jobseeker}", get_followup),
        web.post("/api/followups/{jobseeker}/transfer", transfer),
        web.post("/api/followups/{jobseeker}/opt-out", opt_out),
        web.post("/api/followups/{jobseeker}/opt-in", opt_in),
        web.get("/api/followups/{jobseeker}/export", export),
        web.get("/api/followups/{jobseeker}/callbacks", jobseeker_callbacks),
        web.post("/api/followups/{jobseeker}/callbacks", create_callback),
        web.get("/api/advisors", advisors),
        web.get("/api/advisors/{advisor}/portfolio", portfolio),
        web.get("/api/advisors/{advisor}/callbacks", queue),
        web.post("/api/advisors/{advisor}/cover", grant_cover),
        web.get("/api/advisors/{advisor}/covers", list_covers),
        web.delete("/api/advisors/{advisor}/cover/{colleague}", revoke_cover),
        web.get("/api/advisors/{advisor}/figures", advisor_figures),
        web.get("/api/figures", all_figures),
        web.get("/api/callbacks/{callback}", get_callback),
        web.post("/api/callbacks/{callback}/claim", claim_callback),
        web.post("/api/callbacks/{callback}/outcome", callback_outcome),
        web.post("/api/appointments", create_appointment),
        web.post("/api/appointments/{appointment}/cancel", cancel_appointment),
        web.get("/api/appointments/{appointment}", get_appointment),
    ]
