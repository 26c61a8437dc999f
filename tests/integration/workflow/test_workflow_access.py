"""Who may act on a jobseeker's callbacks and appointments: their current advisor (read from the
follow-up on every request, on every node), or a colleague under an explicit cover (granted,
listed, revoked and expiring through the portal API, each action under it recorded). Everyone
else, a transferred-away advisor included, gets ``forbidden``, over WebSocket and HTTP, on SQLite
and on Redis with two nodes."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from conftest import make_settings
from workflow_support import WebhookReceiver, follow, users, workflow_of

from rtserver.client import ServerError
from rtserver.workflow import access
from rtserver.workflow.notify import now_ms
from rtserver.workflow.settings import WorkflowConfig

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@pytest.fixture
def settings_overrides(receiver, monkeypatch):
    monkeypatch.setenv("RTSERVER_WEBHOOK_SECRET", "portal-shared-secret-0123456789")
    return {"webhook_urls": receiver.url, "callback_max_horizon_days": 60, "cover_max_days": 10}


@pytest.fixture(params=["sqlite", "redis"])
def nodes(request):
    """(node a, node b): one SQLite node twice, or two nodes sharing a real redis-server."""
    if request.param == "sqlite":
        harness = request.getfixturevalue("harness")
        return harness, harness
    return tuple(request.getfixturevalue("redis_nodes"))


def windows(*starts_h: float) -> list[dict[str, int]]:
    now = int(time.time() * 1000)
    return [{"start": now + int(h * HOUR_MS), "end": now + int(h * HOUR_MS) + HOUR_MS} for h in starts_h]


async def _ws_code(client, kind: str, **fields) -> str | None:
    try:
        await client.request(kind, **fields)
    except ServerError as exc:
        return exc.code
    return None


async def _http_code(node, method: str, path: str, body=None) -> tuple[int, str | None]:
    status, data = await node.api(method, path, body)
    return status, (data.get("error") or {}).get("code") if isinstance(data, dict) else None


async def _setup(a, b):
    """js-1 followed by adv-old, then transferred to adv-new; adv-x is unrelated. Returns the
    jobseeker's client and an id of a request adv-old claimed before the transfer."""
    await users(a, ("adv-old", "advisor", ""), ("adv-new", "advisor", ""), ("adv-x", "advisor", ""),
                ("js-1", "jobseeker", ""))
    await follow(a, "js-1", "adv-old")
    js = await b.client("js-1")
    early = (await js.request("callback_request", reason="avant", channel="phone", windows=windows(1)))["callback"]
    old = await b.client("adv-old", "advisor")
    await old.request("callback_claim", callback=early["id"])
    status, _ = await a.api("POST", "/api/followups/js-1/transfer", {"advisor": "adv-new"})
    assert status == 200
    return js, early["id"]


async def test_only_the_current_advisor_acts_on_callbacks(nodes):
    a, b = nodes
    js, early = await _setup(a, b)
    fresh = (await js.request("callback_request", reason="après", channel="video", windows=windows(2)))["callback"]
    for name in ("adv-old", "adv-x"):
        ws = await b.client(name, "advisor")  # on the node the transfer did not go through
        # The request he claimed before the transfer: no outcome of any kind, no notes, no reschedule.
        for outcome in ("done", "no_answer"):
            assert await _ws_code(ws, "callback_outcome", callback=early, outcome=outcome, note="n") == "forbidden"
        assert await _ws_code(ws, "callback_outcome", callback=early, outcome="rescheduled",
                              windows=windows(5)) == "forbidden"
        assert await _ws_code(ws, "callback_claim", callback=fresh["id"]) == "forbidden"
        assert await _ws_code(ws, "callbacks", advisor="adv-new") == "forbidden"
        for cid, body in ((fresh["id"], None), (early, {"outcome": "done"}),
                          (early, {"outcome": "rescheduled", "windows": windows(5)})):
            path = f"/api/callbacks/{cid}/" + ("claim" if body is None else "outcome")
            assert await _http_code(b, "POST", path, {"advisor": name, **(body or {})}) == (403, "forbidden")
        assert await _http_code(b, "GET", f"/api/advisors/adv-new/callbacks?as={name}") == (403, "forbidden")
    # Nothing changed.
    status, stored = await a.api("GET", f"/api/callbacks/{fresh['id']}")
    assert stored["status"] == "open" and stored["claimed_by"] is None
    status, stored = await a.api("GET", f"/api/callbacks/{early}")
    assert stored["status"] == "claimed" and stored["outcomes"] == []

    # The current advisor does everything, over WebSocket and HTTP.
    new = await b.client("adv-new", "advisor")
    assert {c["id"] for c in (await new.request("callbacks"))["callbacks"]} == {early, fresh["id"]}
    claimed = await new.request("callback_claim", callback=fresh["id"])
    assert claimed["callback"]["claimed_by"] == "adv-new"
    done = await new.request("callback_outcome", callback=fresh["id"], outcome="done", note="ok")
    assert done["callback"]["status"] == "done" and done["callback"]["covered"] == []
    # adv-old's claim no longer holds: the current advisor takes the request over (over HTTP).
    assert await _ws_code(new, "callback_outcome", callback=early, outcome="done") == "forbidden"
    status, taken = await a.api("POST", f"/api/callbacks/{early}/claim", {"advisor": "adv-new"})
    assert status == 200 and taken["claimed_by"] == "adv-new", taken
    status, done = await a.api("POST", f"/api/callbacks/{early}/outcome", {"advisor": "adv-new",
                                                                           "outcome": "no_answer", "note": "x"})
    assert status == 200 and done["status"] == "no_answer"
    # A claim by a colleague who may still act is not taken over.
    third = (await js.request("callback_request", reason="trois", channel="phone", windows=windows(3)))["callback"]
    await new.request("callback_claim", callback=third["id"])
    assert await _http_code(a, "POST", f"/api/callbacks/{third['id']}/claim", {"advisor": "adv-new"}) == (
        409, "already_claimed")


def test_the_bounds_must_be_positive(tmp_path):
    for name in ("callback_max_horizon_days", "cover_max_days"):
        with pytest.raises(ValueError, match=name):
            WorkflowConfig.from_settings(make_settings(tmp_path, **{name: 0}), environ={})


async def test_reschedule_times_are_bounded_by_the_horizon(nodes):
    a, b = nodes
    await users(a, ("adv-1", "advisor", ""), ("js-1", "jobseeker", ""))
    await follow(a, "js-1", "adv-1")
    js = await b.client("js-1")
    adv = await b.client("adv-1", "advisor")
    year_2100 = [{"start": 4_102_444_800_000, "end": 4_102_448_400_000}]
    assert await _ws_code(js, "callback_request", reason="loin", channel="phone", windows=year_2100) == \
        "invalid_message"
    cid = (await js.request("callback_request", reason="CV", channel="phone", windows=windows(1)))["callback"]["id"]
    await adv.request("callback_claim", callback=cid)
    assert await _ws_code(adv, "callback_outcome", callback=cid, outcome="rescheduled",
                          windows=year_2100) == "invalid_message"
    assert await _ws_code(adv, "callback_outcome", callback=cid, outcome="rescheduled",
                          windows=windows(61 * 24)) == "invalid_message"
    assert await _http_code(a, "POST", f"/api/callbacks/{cid}/outcome", {
        "advisor": "adv-1", "outcome": "rescheduled", "windows": year_2100}) == (400, "invalid_message")
    ok = await adv.request("callback_outcome", callback=cid, outcome="rescheduled", windows=windows(59 * 24))
    assert ok["callback"]["status"] == "open"


async def _events(receiver: WebhookReceiver, kind: str, count: int) -> list[dict]:
    found: list[dict] = []
    async with asyncio.timeout(10):
        while len(found) < count:
            headers, body = await receiver.delivered.get()
            if headers["X-Rtserver-Event"] == kind:
                found.append(json.loads(body)["data"])
    return found


async def test_a_covering_colleague_acts_and_is_recorded_until_revoked_or_expired(nodes, receiver, monkeypatch):
    a, b = nodes
    await users(a, ("adv-a", "advisor", ""), ("adv-b", "advisor", ""), ("adv-x", "advisor", ""),
                ("js-1", "jobseeker", ""))
    await follow(a, "js-1", "adv-a")
    js = await b.client("js-1")
    cb1 = (await js.request("callback_request", reason="un", channel="phone", windows=windows(1)))["callback"]
    colleague = await b.client("adv-b", "advisor")
    assert await _ws_code(colleague, "callback_claim", callback=cb1["id"]) == "forbidden"

    # The portal grants adv-b a cover of adv-a's portfolio, through node a.
    until = now_ms() + DAY_MS
    status, cover = await a.api("POST", "/api/advisors/adv-a/cover", {"colleague": "adv-b", "until": until})
    assert status == 201 and cover["active"] and cover["until"] == until, cover
    status, listed = await b.api("GET", "/api/advisors/adv-a/covers")
    assert [(c["colleague"], c["active"]) for c in listed["covers"]] == [("adv-b", True)]
    granted = (await _events(receiver, "cover.granted", 1))[0]
    assert granted["id"] == cover["id"]

    # adv-b lists adv-a's queue, claims and reschedules over WebSocket on node b...
    queue = await colleague.request("callbacks", advisor="adv-a")
    assert [c["id"] for c in queue["callbacks"]] == [cb1["id"]]
    claimed = (await colleague.request("callback_claim", callback=cb1["id"]))["callback"]
    assert claimed["claimed_by"] == "adv-b"
    assert claimed["covered"][-1] | {"at": 0} == {"action": "claimed", "acted_by": "adv-b", "advisor": "adv-a",
                                                  "cover": cover["id"], "at": 0}
    moved = (await colleague.request("callback_outcome", callback=cb1["id"], outcome="rescheduled",
                                     windows=windows(3)))["callback"]
    assert moved["outcomes"][-1]["cover"] == cover["id"] and moved["outcomes"][-1]["by"] == "adv-b"
    # ... and over HTTP, and schedules an appointment.
    status, claimed = await b.api("POST", f"/api/callbacks/{cb1['id']}/claim", {"advisor": "adv-b"})
    assert status == 200, claimed
    status, done = await b.api("POST", f"/api/callbacks/{cb1['id']}/outcome", {"advisor": "adv-b",
                                                                               "outcome": "done"})
    assert status == 200 and done["status"] == "done"
    assert [e["action"] for e in done["covered"]] == ["claimed", "rescheduled", "claimed", "done"]
    appointment = (await colleague.request("appointment_create", jobseeker="js-1", start=now_ms() + DAY_MS,
                                           duration_min=30))["appointment"]
    assert appointment["covered"][0]["cover"] == cover["id"]
    used = await _events(receiver, "cover.used", 5)
    assert {u["action"] for u in used} == {"claimed", "rescheduled", "done", "appointment_scheduled"}
    assert all(u["cover"] == cover["id"] and u["acted_by"] == "adv-b" for u in used)
    # An unrelated advisor still cannot.
    cb2 = (await js.request("callback_request", reason="deux", channel="phone", windows=windows(1)))["callback"]
    other = await b.client("adv-x", "advisor")
    assert await _ws_code(other, "callback_claim", callback=cb2["id"]) == "forbidden"
    assert await _ws_code(other, "callbacks", advisor="adv-a") == "forbidden"

    # Revoked through node a: refused at once on node b.
    status, revoked = await a.api("DELETE", "/api/advisors/adv-a/cover/adv-b")
    assert status == 200 and not revoked["active"] and revoked["revoked"]
    assert await _ws_code(colleague, "callback_claim", callback=cb2["id"]) == "forbidden"
    assert await _ws_code(colleague, "callbacks", advisor="adv-a") == "forbidden"
    assert await _ws_code(colleague, "appointment_cancel", appointment=appointment["id"]) == "forbidden"
    assert await _http_code(b, "POST", f"/api/callbacks/{cb2['id']}/claim", {"advisor": "adv-b"}) == (
        403, "forbidden")
    assert (await _events(receiver, "cover.revoked", 1))[0]["id"] == cover["id"]

    # Granted again, then expired: the clock that decides moves past its end (both nodes run in
    # this process).
    status, _ = await a.api("POST", "/api/advisors/adv-a/cover", {"colleague": "adv-b", "until": now_ms() + HOUR_MS})
    assert status == 201
    assert (await colleague.request("callbacks", advisor="adv-a"))["callbacks"]
    monkeypatch.setattr(access, "now_ms", lambda: now_ms() + HOUR_MS + 1)
    assert await _ws_code(colleague, "callback_claim", callback=cb2["id"]) == "forbidden"
    status, listed = await b.api("GET", "/api/advisors/adv-a/covers")
    assert [c["active"] for c in listed["covers"]] == [False]
    # The current advisor was never blocked.
    owner = await b.client("adv-a", "advisor")
    assert (await owner.request("callback_claim", callback=cb2["id"]))["callback"]["claimed_by"] == "adv-a"


async def test_covers_are_checked_when_granted(nodes):
    a, _ = nodes
    await users(a, ("adv-a", "advisor", ""), ("adv-b", "advisor", ""), ("js-1", "jobseeker", ""))
    soon = now_ms() + HOUR_MS
    for body, code in (({"colleague": "adv-b", "until": now_ms() - 1}, "invalid_message"),
                       ({"colleague": "adv-b", "until": now_ms() + 11 * DAY_MS}, "invalid_message"),
                       ({"colleague": "adv-b", "until": "tomorrow"}, "invalid_message"),
                       ({"colleague": "adv-a", "until": soon}, "invalid_message"),
                       ({"colleague": "js-1", "until": soon}, "forbidden"),
                       ({"colleague": "nobody", "until": soon}, "not_found")):
        data = (await a.api("POST", "/api/advisors/adv-a/cover", body))[1]
        assert data["error"]["code"] == code, (body, data)
    assert (await a.api("DELETE", "/api/advisors/adv-a/cover/adv-b"))[0] == 404
    assert (await a.api("GET", "/api/advisors/adv-a/covers"))[1] == {"advisor": "adv-a", "covers": []}


async def test_appointments_only_by_the_current_advisor(nodes):
    a, b = nodes
    await users(a, ("adv-old", "advisor", ""), ("adv-new", "advisor", ""), ("adv-x", "advisor", ""),
                ("js-1", "jobseeker", ""))
    await follow(a, "js-1", "adv-old")
    old = await b.client("adv-old", "advisor")
    start = now_ms() + DAY_MS
    appointment = (await old.request("appointment_create", jobseeker="js-1", start=start, duration_min=30))[
        "appointment"]
    # A transfer cut short before the appointments moved: the appointment still names adv-old.
    portfolios = workflow_of(a).portfolios
    move = portfolios._move_appointments

    async def not_yet(*args, **kwargs) -> None:
        return None

    portfolios._move_appointments = not_yet
    try:
        assert (await a.api("POST", "/api/followups/js-1/transfer", {"advisor": "adv-new"}))[0] == 200
    finally:
        portfolios._move_appointments = move
    for name in ("adv-old", "adv-x"):
        ws = await b.client(name, "advisor")
        assert await _ws_code(ws, "appointment_cancel", appointment=appointment["id"]) == "forbidden"
        assert await _ws_code(ws, "appointment_create", jobseeker="js-1", start=start,
                              duration_min=30) == "forbidden"
        assert await _http_code(b, "POST", f"/api/appointments/{appointment['id']}/cancel", {"by": name}) == (
            403, "forbidden")
        assert await _http_code(b, "POST", "/api/appointments", {"advisor": name, "jobseeker": "js-1",
                                                                 "start": start, "duration_min": 30}) == (
            403, "forbidden")
    assert (await a.api("GET", f"/api/appointments/{appointment['id']}"))[1]["status"] == "scheduled"
    new = await b.client("adv-new", "advisor")
    cancelled = await new.request("appointment_cancel", appointment=appointment["id"])
    assert cancelled["appointment"]["status"] == "cancelled"
    # The jobseeker cancels their own, over HTTP through the portal.
    again = (await new.request("appointment_create", jobseeker="js-1", start=start, duration_min=30))["appointment"]
    status, data = await a.api("POST", f"/api/appointments/{again['id']}/cancel", {"by": "js-1"})
    assert status == 200 and data["status"] == "cancelled"
