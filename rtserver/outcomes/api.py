"""HTTP API of interview outcomes for portals (``X-Api-Key``), as the other ``/api`` routes.

- ``GET /api/advisors/{advisor}/interviews?since=&until=&limit=``: the advisor's interviews that
  started in ``[since, until)`` (ms since the epoch), newest first;
- ``GET /api/interviews/outcomes?since=&until=&advisor=``: how many interviews of each outcome
  started in the period (all advisors', or one's), and the share with technical problems:
  ``(degraded + failed) / (clean + degraded + failed)`` (docs/media.md, "Interview outcomes").
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..errors import BadRequest
from ..media.outcome import problem_share
from ..node.httpkit import require_api_key, user_id
from ..node.params import int_query
from ..protocol.workflow import MAX_MS
from .recorder import OutcomeRecorder

__all__ = ["OUTCOMES_KEY", "outcome_routes"]

OUTCOMES_KEY = web.AppKey("interview_outcomes", OutcomeRecorder)
DEFAULT_PAGE = 50
MAX_PAGE = 500  # a month of one advisor's interviews at about 20 a day


def _advisor(value: Any) -> str:
    return user_id(value, "advisor id")


def _period(request: web.Request) -> tuple[int, int]:
    since = int_query(request.query, "since", 0, 0, MAX_MS)
    until = int_query(request.query, "until", MAX_MS, 0, MAX_MS)
    if since >= until:
        raise BadRequest("'since' must be before 'until' (ms since the epoch; the period is [since, until))")
    return since, until


async def advisor_interviews(request: web.Request) -> web.Response:
    require_api_key(request)
    advisor = _advisor(request.match_info["advisor"])
    since, until = _period(request)
    limit = int_query(request.query, "limit", DEFAULT_PAGE, 1, MAX_PAGE, clamp=True)
    store = request.app[OUTCOMES_KEY].store
    records = await store.of_advisor(advisor, since=since, until=until, limit=limit)
    return web.json_response({"advisor": advisor, "since": since, "until": until, "interviews": records,
                              "more": len(records) == limit})


async def interview_outcomes(request: web.Request) -> web.Response:
    require_api_key(request)
    since, until = _period(request)
    raw = request.query.get("advisor")
    advisor = None if raw is None else _advisor(raw)
    counts = await request.app[OUTCOMES_KEY].store.counts(since=since, until=until, advisor=advisor)
    return web.json_response({"since": since, "until": until, "advisor": advisor, "counts": counts,
                              "total": sum(counts.values()),
                              "with_problems": counts.get("degraded", 0) + counts.get("failed", 0),
                              "problem_share": problem_share(counts)})


def outcome_routes() -> list[web.RouteDef]:
    return [
        web.get("/api/advisors/{advisor}/interviews", advisor_interviews),
        web.get("/api/interviews/outcomes", interview_outcomes),
    ]
