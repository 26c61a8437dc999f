"""The portal's routes for a person's data (``X-Api-Key``, as every ``/api`` route).

- ``GET /api/users/{user}/data?cursor=&limit=``: one page of the person's export
  (``person.PersonData.page``); ``limit`` 1 to ``person_export_page_max`` (larger is clamped),
  that setting by default. Journaled (``person.export``), each page.
- ``DELETE /api/users/{user}/data``: the erasure; 409 ``legal_hold`` while a hold is on the
  person's follow-up. Journaled (``person.erasure``) before anything is erased: an erasure the
  journal cannot record is refused (``unavailable``), as every journaled access.
- ``PUT /api/followups/{jobseeker}/hold`` ``{"reference": "..."}`` sets (or replaces) a legal hold
  on an existing follow-up; ``GET`` reads it (404 when none); ``DELETE`` lifts it (404 when none).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..audit.chain import AccessKind
from ..audit.journal import record_http
from ..errors import ErrorCode, RtError
from ..node.httpkit import keyed, user_id
from ..node.params import int_query, json_object
from ..protocol.workflow import one_line
from ..workflow.erasure import MAX_REFERENCE_CHARS, Hold
from ..workflow.notify import now_ms
from .person import PersonData

__all__ = ["PERSON_KEY", "privacy_routes"]

PERSON_KEY: web.AppKey[PersonData] = web.AppKey("rtserver_person_data", PersonData)


@keyed()
async def export(request: web.Request) -> dict[str, Any]:
    person = request.app[PERSON_KEY]
    user = user_id(request.match_info["user"])
    limit = int_query(request.query, "limit", person.page_max, 1, person.page_max, clamp=True)
    cursor = request.query.get("cursor")
    await record_http(request, AccessKind.PERSON_EXPORT, user, {"page": "first" if cursor is None else "next"})
    return await person.page(user, cursor, limit)


@keyed()
async def erase(request: web.Request) -> dict[str, Any]:
    person = request.app[PERSON_KEY]
    user = user_id(request.match_info["user"])
    await person.refuse_if_held(user)
    await record_http(request, AccessKind.PERSON_ERASURE, user)
    return await person.erase(user)


async def _followed(request: web.Request) -> str:
    jobseeker = user_id(request.match_info["jobseeker"])
    if await request.app[PERSON_KEY].workflow.get_followup(jobseeker) is None:
        raise RtError(f"{jobseeker!r} has no follow-up", code=ErrorCode.NOT_FOUND)
    return jobseeker


@keyed()
async def put_hold(request: web.Request) -> dict[str, Any]:
    jobseeker = await _followed(request)
    body = await json_object(request)
    hold = Hold(jobseeker, one_line(body.get("reference"), "reference", MAX_REFERENCE_CHARS), now_ms())
    await request.app[PERSON_KEY].workflow.set_hold(hold)
    return hold.to_dict()


@keyed()
async def get_hold(request: web.Request) -> dict[str, Any]:
    jobseeker = user_id(request.match_info["jobseeker"])
    hold = await request.app[PERSON_KEY].workflow.get_hold(jobseeker)
    if hold is None:
        raise RtError(f"no legal hold on {jobseeker!r}'s follow-up", code=ErrorCode.NOT_FOUND)
    return hold.to_dict()


@keyed()
async def lift_hold(request: web.Request) -> dict[str, Any]:
    jobseeker = user_id(request.match_info["jobseeker"])
    if not await request.app[PERSON_KEY].workflow.clear_hold(jobseeker):
        raise RtError(f"no legal hold on {jobseeker!r}'s follow-up", code=ErrorCode.NOT_FOUND)
    return {"jobseeker": jobseeker, "lifted": True}


def privacy_routes() -> list[web.RouteDef]:
    return [
        web.get("/api/users/{user}/data", export),
        web.delete("/api/users/{user}/data", erase),
        web.put("/api/followups/{jobseeker}/hold", put_hold),
        web.get("/api/followups/{jobseeker}/hold", get_hold),
        web.delete("/api/followups/{jobseeker}/hold", lift_hold),
    ]
