"""HTTP API of the access journal for portals (``X-Api-Key``), as the other ``/api`` routes.

``GET /api/audit?subject=&actor=&since=&limit=&cursor=``: the entries about one person
(``subject``), by one reader (``actor``: a user id, or ``*api`` for the portal naming nobody),
both, or all, recorded at or after ``since`` (ms since the epoch), oldest first, ``limit`` per
page (1-500, 100 by default). ``next`` is the cursor of the next page (pass it as ``cursor``
with the same other parameters), null at the end. With both ``subject`` and ``actor``, a page on
Redis looks at up to ten times ``limit`` of the subject's entries and may hold fewer than
``limit``: continue while ``next`` is not null.

Reading the journal is not itself journaled (docs/audit.md, "Known limits").
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from ..errors import BadRequest
from ..ids import ID_CHARS, MAX_USER_ID_CHARS, valid_user_id
from ..node.httpkit import keyed
from ..node.params import int_query
from ..protocol.workflow import MAX_MS
from .journal import API_ACTOR, JOURNAL_KEY

__all__ = ["audit_entries"]

DEFAULT_PAGE = 100
MAX_PAGE = 500  # about 500 x 300 bytes: a 150 KB answer
CURSOR = re.compile(r"([0-9]{1,16})-([0-9]{1,16})")


def _who(request: web.Request, name: str, *, api_actor: bool = False) -> str | None:
    value = request.query.get(name)
    if value is None or (api_actor and value == API_ACTOR):
        return value
    if not valid_user_id(value):
        extra = f", or {API_ACTOR}" if api_actor else ""
        raise BadRequest(f"'{name}': a user id, 1-{MAX_USER_ID_CHARS} characters among {ID_CHARS}{extra}")
    return value


@keyed()
async def audit_entries(request: web.Request) -> dict[str, Any]:
    subject = _who(request, "subject")
    actor = _who(request, "actor", api_actor=True)
    since = int_query(request.query, "since", 0, 0, MAX_MS)
    limit = int_query(request.query, "limit", DEFAULT_PAGE, 1, MAX_PAGE, clamp=True)
    after = None
    if (raw := request.query.get("cursor")) is not None:
        if (match := CURSOR.fullmatch(raw)) is None:
            raise BadRequest("'cursor' must be the 'next' of the previous page")
        after = (int(match[1]), int(match[2]))
    page = await request.app[JOURNAL_KEY].store.query(subject=subject, actor=actor, since=since, after=after,
                                                      limit=limit)
    return {"subject": subject, "actor": actor, "since": since, "entries": [e.to_dict() for e in page.entries],
            "next": None if page.next is None else f"{page.next[0]}-{page.next[1]}"}
