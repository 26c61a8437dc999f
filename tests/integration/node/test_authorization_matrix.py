"""Who may do what: every WebSocket request type and every HTTP route, for every kind of caller.

Two tables, ``WS_TABLE`` and ``HTTP_TABLE``, give the expected answer per (request, role). The
rows are checked against the server itself: the request registry (``REQUEST_TYPES``) and the
node's route table for WebSocket requests, the aiohttp router for HTTP routes. A request type or
route added without a row fails ``test_every_*_has_a_row``, naming what is missing.

Each cell runs in a world of its own (fresh user ids, set up through the portal HTTP API with the
test API key), over a real WebSocket to a real node, on SQLite and on Redis (two nodes: the
portal and the helpers on one, the caller on the other, so membership must hold on every node).

Roles (WebSocket):
- ``jobseeker``: the jobseeker of the follow-up (member of the conversation);
- ``advisor``: his current advisor (member);
- ``guest``: a user (jobseeker token) the advisor invited to the interview, member of nothing;
- ``transferred``: the advisor before a transfer (``POST /api/followups/{js}/transfer``): he
  joined the conversation, the interview, claimed the callback before the transfer;
- ``stranger``: an authenticated advisor with no part in this follow-up;
- ``anonymous``: a connection that has not authenticated.

Answers: ``ok`` (any reply that is not an error), an error code, or ``passes`` for media
requests sent with minimal payloads (no real peer): the answer must not be an authorization
refusal (nor ``internal``); what the media layer then says about the payload is not the point.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest
from authz_support import WRONG_KEY, Wire, World, fill_path, frame_for, make_world, transfer, windows
from conftest import API_KEY, Harness

from rtserver.node.ws import NODE_KEY
from rtserver.protocol.requests import REQUEST_TYPES

pytestmark = pytest.mark.timeout(300)

ROLES = ("jobseeker", "advisor", "guest", "transferred", "stranger", "anonymous")
AUTHZ_CODES = {"forbidden", "not_joined", "room_not_found", "not_found", "unauthorized"}


def row(js: str, adv: str, guest: str, transferred: str, stranger: str, anonymous: str = "unauthorized"
        ) -> dict[str, str]:
    return dict(zip(ROLES, (js, adv, guest, transferred, stranger, anonymous), strict=True))


OK_FOR_ALL = row("ok", "ok", "ok", "ok", "ok")
# After the caller tried to join. A removed member's connections were evicted from the room: he is
# told he is not joined (and joining again is forbidden).
MEMBERS_ONLY = row("ok", "ok", "not_joined", "not_joined", "not_joined")
# A removed member's participant was taken out of the interview at the removal: not joined.
MEDIA_PARTICIPANTS = row("passes", "passes", "passes", "not_joined", "not_joined")
CURRENT_ADVISOR = row("forbidden", "ok", "forbidden", "forbidden", "forbidden")
OWN_FOLLOWUP = row("ok", "forbidden", "not_found", "forbidden", "forbidden")  # the guest has no follow-up
PARTIES = row("ok", "ok", "not_found", "forbidden", "forbidden")  # an appointment's: advisors learn it is not theirs

# Keys: a request type, or "type/variant" for the same type on another target:
# /nonexistent: a room that does not exist (must answer as for a room one is not a member of);
# /precall: the jobseeker's echo room precall:<js>; /own_precall: the caller's own echo room;
# /jobseeker: precall_results of the jobseeker rather than one's own.
WS_TABLE: dict[str, dict[str, str]] = {
    #                           jobseeker    advisor      guest        transferred  stranger
    "auth":                 row("ok",        "ok",        "ok",        "ok",        "ok",        "ok"),
    "join":                 row("ok",        "ok",        "forbidden", "forbidden", "forbidden"),
    "join/nonexistent":     row("forbidden", "forbidden", "forbidden", "forbidden", "forbidden"),
    "leave":                MEMBERS_ONLY,
    "send":                 MEMBERS_ONLY,
    "typing":               MEMBERS_ONLY,
    "call":                 MEMBERS_ONLY,
    "read":                 MEMBERS_ONLY,
    "history":              MEMBERS_ONLY,
    "presence":             OK_FOR_ALL,
    "ping":                 OK_FOR_ALL,
    "rooms":                OK_FOR_ALL,
    "media_join":           row("ok",        "ok",        "ok",        "forbidden", "forbidden"),
    "media_join/nonexistent": row("forbidden", "forbidden", "forbidden", "forbidden", "forbidden"),
    "media_join/precall":   row("ok",        "forbidden", "forbidden", "forbidden", "forbidden"),
    "media_join/own_precall": OK_FOR_ALL,
    "media_leave":          row("ok",        "ok",        "ok",        "not_joined", "not_joined"),
    "media_offer":          MEDIA_PARTICIPANTS,
    "media_answer":         MEDIA_PARTICIPANTS,
    "media_candidate":      MEDIA_PARTICIPANTS,
    "media_restart":        MEDIA_PARTICIPANTS,
    "media_receive":        MEDIA_PARTICIPANTS,
    "media_report":         MEDIA_PARTICIPANTS,
    "media_stats":          row("forbidden", "ok",        "forbidden", "not_joined", "not_joined"),
    "media_invite":         row("forbidden", "ok",        "forbidden", "not_joined", "not_joined"),
    "callback_request":     OWN_FOLLOWUP,
    "callback_cancel":      row("ok",        "forbidden", "not_found", "forbidden", "forbidden"),
    "callback_claim":       CURRENT_ADVISOR,
    "callback_outcome":     CURRENT_ADVISOR,
    "callbacks":            OK_FOR_ALL,
    "appointment_create":   CURRENT_ADVISOR,
    "appointment_cancel":   PARTIES,
    "appointment_join":     PARTIES,
    "appointments":         OK_FOR_ALL,
    "followup":             OK_FOR_ALL,
    "followup_opt_out":     OWN_FOLLOWUP,
    "followup_opt_in":      OWN_FOLLOWUP,
    "precall_result":       OK_FOR_ALL,
    "precall_results":      OK_FOR_ALL,
    "precall_results/jobseeker": row("ok",   "ok",        "forbidden", "forbidden", "forbidden"),
}

# What the caller does before the request (and, when transferred, before the transfer): each
# step is tried and its answer ignored (a stranger's join is refused; that is the point).
PREPARE: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("leave", "send", "typing", "call", "read", "history"), ("join",)),
    **dict.fromkeys(("media_leave", "media_offer", "media_answer", "media_candidate", "media_restart",
                     "media_receive", "media_report", "media_stats", "media_invite"), ("media_join",)),
    "callback_outcome": ("callback_claim",),
}
NEEDS_CALLBACK = {"callback_cancel", "callback_claim", "callback_outcome"}
NEEDS_APPOINTMENT = {"appointment_cancel", "appointment_join"}

PUBLIC = {"key": "ok", "no_key": "ok", "wrong_key": "ok"}
PORTAL = {"key": "ok", "no_key": "unauthorized", "wrong_key": "denied"}  # denied: 401 or 403

HTTP_TABLE: dict[str, dict[str, str]] = {
    "GET /healthz": PUBLIC,
    "GET /readyz": PUBLIC,
    "GET /metrics": PUBLIC,  # open unless metrics_token is set (tests/integration/node/test_metrics_access.py)
    "GET /client-config": PUBLIC,  # the allowed origins the pages check their parameters against
    "GET /ws": PUBLIC,  # the upgrade itself; the token is checked on the socket
    "GET /static": PUBLIC,
    "GET /": PUBLIC,  # redirects to the home page, static/index.html (no data, no sign-in)
    "GET /api/openapi.json": PUBLIC,  # the API's description, no data: portals' tooling reads it without a key
    "PUT /api/users/{user}": PORTAL,
    "GET /api/users/{user}": PORTAL,
    "GET /api/users/{user}/appointments": PORTAL,
    "GET /api/users/{user}/precall": PORTAL,
    "POST /api/followups": PORTAL,
    "GET /api/followups/{jobseeker}": PORTAL,
    "POST /api/followups/{jobseeker}/transfer": PORTAL,
    "POST /api/followups/{jobseeker}/opt-out": PORTAL,
    "POST /api/followups/{jobseeker}/opt-in": PORTAL,
    "GET /api/followups/{jobseeker}/export": PORTAL,
    "GET /api/followups/{jobseeker}/callbacks": PORTAL,
    "POST /api/followups/{jobseeker}/callbacks": PORTAL,
    "GET /api/advisors": PORTAL,
    "GET /api/advisors/{advisor}/portfolio": PORTAL,
    "GET /api/advisors/{advisor}/callbacks": PORTAL,
    "GET /api/advisors/{advisor}/figures": PORTAL,
    "GET /api/figures": PORTAL,
    "GET /api/callbacks/{callback}": PORTAL,
    "POST /api/callbacks/{callback}/claim": PORTAL,
    "POST /api/callbacks/{callback}/outcome": PORTAL,
    "POST /api/appointments/{appointment}/cancel": PORTAL,
    "POST /api/advisors/{advisor}/cover": PORTAL,
    "GET /api/advisors/{advisor}/covers": PORTAL,
    "DELETE /api/advisors/{advisor}/cover/{colleague}": PORTAL,
    "POST /api/appointments": PORTAL,
    "GET /api/appointments/{appointment}": PORTAL,
    "POST /api/rooms": PORTAL,
    "GET /api/rooms/{room}": PORTAL,
    "POST /api/rooms/{room}/members": PORTAL,
    "DELETE /api/rooms/{room}/members/{user}": PORTAL,
    "GET /api/rooms/{room}/messages": PORTAL,
    "GET /api/advisors/{advisor}/interviews": PORTAL,  # interview outcomes: ids, times and figures
    "GET /api/interviews/outcomes": PORTAL,
    "GET /api/audit": PORTAL,  # the access journal: who read whose data (docs/audit.md)
    "GET /api/users/{user}/data": PORTAL,  # everything held about a person (docs/privacy.md)
    "DELETE /api/users/{user}/data": PORTAL,  # their erasure
    "PUT /api/followups/{jobseeker}/hold": PORTAL,  # a legal hold, which refuses the erasure
    "GET /api/followups/{jobseeker}/hold": PORTAL,
    "DELETE /api/followups/{jobseeker}/hold": PORTAL,
}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"media_listen_address": "127.0.0.1", "media_drop_timeout_s": 1.0, "sqlite_synchronous": "normal"}


@pytest.fixture(params=["sqlite", "redis"])
def nodes(request: pytest.FixtureRequest) -> tuple[Harness, Harness]:
    """(portal node, caller's node): the same node on SQLite, two nodes sharing Redis."""
    if request.param == "sqlite":
        harness = request.getfixturevalue("harness")
        return harness, harness
    first, second = request.getfixturevalue("redis_nodes")
    return first, second


# -- the tables match the server ------------------------------------------------------------------
def _ws_types_served(harness: Harness) -> set[str]:
    """Request types the node both parses and routes (a parsed type without a route would be internal)."""
    from rtserver.protocol.requests import _PARSERS, Limits

    routes = harness.app[NODE_KEY]._routes
    served = set()
    for kind, parser in _PARSERS.items():
        parsed = parser(None, _probe_frame(kind), Limits())  # the matrix's own frame: valid
        assert kind == "auth" or type(parsed) in routes, f"{kind!r} parses but the node has no route for it"
        served.add(kind)
    return served


def _probe_frame(kind: str) -> dict[str, Any]:
    w = World(0, "js", "adv", "advb", "guest", "stranger", "room", "cb", "ap")
    return frame_for(kind, w, "js", "token")


def http_routes(harness: Harness) -> set[str]:
    """``METHOD canonical-path`` of every route; HEAD routes that aiohttp adds beside a GET count as the GET."""
    found = set()
    for route in harness.app.router.routes():
        method = "GET" if route.method == "HEAD" else route.method
        found.add(f"{method} {route.resource.canonical}")  # type: ignore[union-attr]
    return found


async def test_every_ws_request_type_has_a_row(harness: Harness) -> None:
    served = _ws_types_served(harness)
    assert served == set(REQUEST_TYPES)
    rows = {key.partition("/")[0] for key in WS_TABLE}
    assert not served - rows, f"request types without a row in WS_TABLE: {sorted(served - rows)}"
    assert not rows - served, f"rows for request types the server does not have: {sorted(rows - served)}"
    for key, expected in WS_TABLE.items():
        assert set(expected) == set(ROLES), f"{key}: the row must name every role"


async def test_every_http_route_has_a_row(harness: Harness) -> None:
    routes = http_routes(harness)
    assert not routes - set(HTTP_TABLE), f"HTTP routes without a row in HTTP_TABLE: {sorted(routes - set(HTTP_TABLE))}"
    assert not set(HTTP_TABLE) - routes, f"rows for routes the server does not have: {sorted(set(HTTP_TABLE) - routes)}"


# -- WebSocket requests ---------------------------------------------------------------------------
def _outcome(answer: dict[str, Any]) -> str:
    if answer["type"] == "closed":
        return f"closed {answer.get('code')}"
    return str(answer["code"]) if answer["type"] == "error" else "ok"


def _matches(expected: str, actual: str) -> bool:
    if expected == "passes":
        return actual not in AUTHZ_CODES and actual != "internal" and not actual.startswith("closed")
    return expected == actual


class Cell:
    """One (request, role): builds its world, lets the caller prepare, sends the request."""

    def __init__(self, portal: Harness, caller_node: Harness, key: str, role: str):
        self.portal = portal
        self.node = caller_node
        self.key = key
        self.kind = key.partition("/")[0]
        self.role = role
        self.wires: list[Wire] = []

    def _caller(self, w: World) -> tuple[str | None, str]:
        return {"jobseeker": (w.js, "jobseeker"), "advisor": (w.adv, "advisor"), "guest": (w.guest, "jobseeker"),
                "transferred": (w.adv, "advisor"), "stranger": (w.stranger, "advisor"),
                "anonymous": (None, "jobseeker")}[self.role]

    async def _wire(self, harness: Harness, user: str | None, role: str) -> Wire:
        wire = await Wire.open(harness, user, role)
        self.wires.append(wire)
        return wire

    async def run(self) -> dict[str, Any]:
        w = await make_world(self.portal, callback=self.kind in NEEDS_CALLBACK,
                             appointment=self.kind in NEEDS_APPOINTMENT)
        user, role = self._caller(w)
        if self.role == "guest" and self.kind.startswith("media_") and "/" not in self.key:
            host = await self._wire(self.portal, w.adv, "advisor")  # the advisor invites, from the portal's node
            for frame in ({"type": "media_join", "room": w.room},
                          {"type": "media_invite", "room": w.room, "user": w.guest}):
                answer = await host.ask(frame)
                assert answer["type"] != "error", answer
        caller = await self._wire(self.node, user, role)
        for step in PREPARE.get(self.key, ()) if user is not None else ():  # anonymous: refused, then closed
            await caller.ask(frame_for(step, w, user or w.js, ""))
        if self.role == "transferred":
            await transfer(self.portal, w)
        token = self.node.token(user or w.js, role)
        return await caller.ask(frame_for(self.key, w, user or w.js, token))

    async def close(self) -> None:
        for wire in self.wires:
            await wire.close()


async def test_ws_authorization_matrix(nodes: tuple[Harness, Harness]) -> None:
    portal, caller_node = nodes
    mismatches = []
    for key, expected in WS_TABLE.items():
        for role in ROLES:
            cell = Cell(portal, caller_node, key, role)
            try:
                answer = await cell.run()
            finally:
                await cell.close()
            actual = _outcome(answer)
            if not _matches(expected[role], actual):
                mismatches.append(f"{key:26} {role:12} expected {expected[role]:10} got {actual}: "
                                  f"{answer.get('message', '')}")
    assert not mismatches, "answers differing from WS_TABLE:\n" + "\n".join(mismatches)


# -- HTTP routes ----------------------------------------------------------------------------------
async def _http_request(portal: Harness, key: str, w: World) -> tuple[str, str, Any]:
    """(method, path, JSON body or None) of a valid request for route ``key`` in world ``w``."""
    method, _, canonical = key.partition(" ")
    values = {"user": w.js, "jobseeker": w.js, "advisor": w.adv, "callback": w.callback or "",
              "appointment": w.appointment or "", "room": w.room, "colleague": w.adv2}
    body: Any = None
    if key == "PUT /api/users/{user}":
        values["user"] = w.guest
        body = {"name": "Guest", "role": "jobseeker", "email": "", "volunteer": False}
    elif key == "POST /api/followups":
        status, data = await portal.api("PUT", f"/api/users/{w.guest}", {"name": "G", "role": "jobseeker"})
        assert status == 200, data
        body = {"jobseeker": w.guest, "advisor": w.adv}
    elif key.endswith("/transfer"):
        body = {"advisor": w.adv2}
    elif key == "POST /api/followups/{jobseeker}/callbacks":
        body = {"reason": "CV", "channel": "phone", "windows": windows(4)}
    elif key == "POST /api/appointments":
        body = {"advisor": w.adv, "jobseeker": w.js, "start": int(time.time() * 1000) + 7_200_000, "duration_min": 30}
    elif key == "POST /api/rooms":
        body = {"id": f"group-{w.n}", "kind": "group", "members": [{"user": w.js}]}
    elif key == "POST /api/rooms/{room}/members":
        body = {"members": [{"user": w.guest}]}
    elif key == "POST /api/callbacks/{callback}/claim":
        body = {"advisor": w.adv}
    elif key == "POST /api/callbacks/{callback}/outcome":
        status, data = await portal.api("POST", f"/api/callbacks/{w.callback}/claim", {"advisor": w.adv})
        assert status == 200, data
        body = {"advisor": w.adv, "outcome": "done"}
    elif key == "POST /api/appointments/{appointment}/cancel":
        body = {"by": w.js}
    elif key == "POST /api/advisors/{advisor}/cover":
        body = {"colleague": w.adv2, "until": int(time.time() * 1000) + 3_600_000}
    elif key == "DELETE /api/advisors/{advisor}/cover/{colleague}":
        status, data = await portal.api("POST", f"/api/advisors/{w.adv}/cover",
                                        {"colleague": w.adv2, "until": int(time.time() * 1000) + 3_600_000})
        assert status == 201, data
    elif key == "PUT /api/followups/{jobseeker}/hold":
        body = {"reference": "case 1"}
    elif key in ("GET /api/followups/{jobseeker}/hold", "DELETE /api/followups/{jobseeker}/hold"):
        status, data = await portal.api("PUT", f"/api/followups/{w.js}/hold", {"reference": "case 1"})
        assert status == 200, data
    elif key == "GET /static":
        canonical = "/static/rtclient.js"
    return method, fill_path(canonical, values), body


def _http_outcome(status: int) -> str:
    if 200 <= status < 300:
        return "ok"
    return {401: "unauthorized", 403: "forbidden", 404: "not_found"}.get(status, f"http {status}")


async def _ask_http(node: Harness, method: str, path: str, body: Any, api_key: str | None) -> str:
    headers = {} if api_key is None else {"X-Api-Key": api_key}
    if path == "/ws":
        try:
            ws = await node.session.ws_connect(node.url(path), headers=headers)
        except aiohttp.WSServerHandshakeError as exc:  # the refusal is the answer
            return _http_outcome(exc.status)
        await ws.close()
        return "ok"
    async with node.session.request(method, node.url(path), json=body, headers=headers) as resp:
        await resp.read()
        return _http_outcome(resp.status)


async def test_http_authorization_matrix(nodes: tuple[Harness, Harness]) -> None:
    portal, node = nodes
    mismatches = []
    for key, expected in HTTP_TABLE.items():
        w = await make_world(portal, callback=True, appointment=True)
        method, path, body = await _http_request(portal, key, w)
        # The refused calls first: they must change nothing the valid call then relies on.
        for who, api_key in (("wrong_key", WRONG_KEY), ("no_key", None), ("key", API_KEY)):
            actual = await _ask_http(node, method, path, body, api_key)
            wanted = expected[who]
            good = actual in ("unauthorized", "forbidden") if wanted == "denied" else actual == wanted
            if not good:
                mismatches.append(f"{key:44} {who:10} expected {wanted:12} got {actual}")
    assert not mismatches, "answers differing from HTTP_TABLE:\n" + "\n".join(mismatches)


async def test_transferred_advisor_lists_nothing_of_the_jobseeker(nodes: tuple[Harness, Harness]) -> None:
    """The listings answer ``ok`` to everyone; after a transfer the old advisor's no longer name the jobseeker."""
    portal, node = nodes
    w = await make_world(portal, callback=True, appointment=True)
    await transfer(portal, w)
    wire = await Wire.open(node, w.adv, "advisor")
    try:
        for kind in ("rooms", "followup", "callbacks", "appointments", "precall_results"):
            answer = await wire.ask({"type": kind})
            assert answer["type"] != "error", answer
            assert w.js not in repr(answer) and w.room not in repr(answer), (kind, answer)
    finally:
        await wire.close()
