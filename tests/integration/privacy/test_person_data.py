"""A person's export and erasure on a real node (SQLite) and on two nodes sharing a real
redis-server: the export of a long history is complete and paged; the erasure takes the
person's words out of the history, the notices, the export and the digests while the other
party's stay; a client resumes across it with no gap and no erased text; the person's
connections close on every node; a legal hold refuses it; so does a journal that cannot record."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import pytest
from conftest import Harness
from workflow_support import users

from rtserver.audit.journal import JOURNAL_KEY
from rtserver.backends.erasure import TOMBSTONE_TEXT
from rtserver.workflow import WORKFLOW_KEY

pytestmark = pytest.mark.timeout(120)
ROOM = "followup-js-1"
HOUR_MS = 3_600_000
SECRET = "j'ai des dettes"  # the jobseeker's words, which must go
REASON = "ma santé"  # the jobseeker's callback reason, quoted in notices


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"person_export_page_max": 40, "sqlite_synchronous": "normal", "max_messages_per_s": 1000.0,
            "burst_messages": 1000}


@pytest.fixture(params=["sqlite", "redis"])
def nodes(request: pytest.FixtureRequest) -> tuple[Harness, Harness]:
    """(portal's node A, users' node B): the same node on SQLite, two nodes sharing Redis."""
    if request.param == "sqlite":
        harness = request.getfixturevalue("harness")
        return harness, harness
    first, second = request.getfixturevalue("redis_nodes")
    return first, second


def windows(hours: float) -> list[dict[str, int]]:
    now = int(time.time() * 1000)
    return [{"start": now + int(hours * HOUR_MS), "end": now + int(hours * HOUR_MS) + HOUR_MS}]


async def setup_followup(portal: Harness) -> None:
    await users(portal, ("adv-1", "advisor", "claire@example.org"), ("js-1", "jobseeker", "karim@example.org"))
    status, data = await portal.api("POST", "/api/followups", {"jobseeker": "js-1", "advisor": "adv-1"})
    assert status == 201, data


async def export_all(portal: Harness, user: str, limit: int | None = None) -> tuple[list[dict[str, Any]], int]:
    """Every page of the person's export merged: (pages, number of pages)."""
    pages: list[dict[str, Any]] = []
    query = "" if limit is None else f"?limit={limit}"
    while True:
        status, page = await portal.api("GET", f"/api/users/{user}/data{query}")
        assert status == 200, page
        pages.append(page)
        if page["next"] is None:
            return pages, len(pages)
        query = f"?cursor={page['next']}" + ("" if limit is None else f"&limit={limit}")


async def test_the_export_of_a_long_history_is_complete_and_paged(harness: Harness) -> None:
    await setup_followup(harness)
    store = harness.node.backends.store
    for i in range(150):  # a long conversation: 150 messages, both sides
        sender = "js-1" if i % 3 else "adv-1"
        await store.append(ROOM, sender=sender, name=sender.upper(), text=f"{sender} {i}", key=None, ts_ms=1000 + i)
    await harness.room("group-1", {"js-1": "member", "adv-2": "member"})
    for i in range(5):
        await store.append("group-1", sender="adv-2", name="B", text=f"group {i}", key=None, ts_ms=2000 + i)
    status, _ = await harness.api("POST", "/api/followups/js-1/callbacks",
                                  {"reason": REASON, "channel": "phone", "windows": windows(2)})
    assert status == 201

    pages, count = await export_all(harness, "js-1")

    first = pages[0]
    assert first["profile"]["email"] == "karim@example.org" and first["followup"]["advisor"] == "adv-1"
    assert [c["reason"] for c in first["callbacks"]] == [REASON] and first["hold"] is None
    assert first["rooms"] == ["followup-js-1", "group-1"]
    assert all("profile" not in p for p in pages[1:])
    messages = [m for p in pages for m in p["messages"]]
    assert all(len(p["messages"]) + len(p["access_journal"]) <= 40 for p in pages)  # person_export_page_max
    by_room = {r: [m["offset"] for m in messages if m["room"] == r] for r in first["rooms"]}
    head = await store.head(ROOM)
    assert head >= 151  # 150, the callback notice, the follow-up's own notices
    assert by_room == {"followup-js-1": list(range(1, head + 1)), "group-1": list(range(1, 6))}
    journal = [e for p in pages for e in p["access_journal"]]
    assert [e["kind"] for e in journal] == ["person.export"] * count  # each page read is journaled
    assert count == 5  # 156 messages and 5 entries, 40 a page

    asked_more, _ = await export_all(harness, "js-1", limit=1000)  # clamped to person_export_page_max
    assert max(len(p["messages"]) + len(p["access_journal"]) for p in asked_more) == 40
    small, _ = await export_all(harness, "js-1", limit=7)
    assert max(len(p["messages"]) + len(p["access_journal"]) for p in small) == 7
    assert [m["offset"] for p in small for m in p["messages"] if m["room"] == ROOM] == by_room[ROOM]
    status, body = await harness.api("GET", "/api/users/js-1/data?cursor=bm90LWEtY3Vyc29y")
    assert status == 400 and body["error"]["code"] == "invalid_message"


async def test_erasure_removes_the_persons_words_everywhere_and_closes_their_connections(
        nodes: tuple[Harness, Harness]) -> None:
    portal, other = nodes
    await setup_followup(portal)
    js = await other.client("js-1")
    await js.join(ROOM)
    adv = await other.client("adv-1", "advisor")
    await adv.join(ROOM)
    for i in range(3):
        await js.send(ROOM, f"{SECRET} {i}", key=f"k{i}")
        await adv.send(ROOM, f"réponse {i}")
    await js.request("callback_request", reason=REASON, channel="video", windows=windows(3))
    await adv.close()  # the advisor goes offline: a digest of the jobseeker's words waits for him
    await js.send(ROOM, f"{SECRET} encore")
    workflow = portal.app[WORKFLOW_KEY]
    waiting, _ = await workflow.digests.unread_for("adv-1")
    assert any(SECRET in m.text for m in waiting) and any(REASON in m.text for m in waiting)

    status, erased = await portal.api("DELETE", "/api/users/js-1/data")

    assert status == 200, erased
    # 4 tombstones and the request's notice scrubbed; the profile; the callback request
    assert (erased["messages"], erased["profile"], erased["callbacks"]) == (4 + 1, 1, 1)
    closed = await js.next_event("closed", timeout=10)
    assert closed["code"] == 4100  # on node B, erased through node A
    status, history = await portal.api("GET", f"/api/rooms/{ROOM}/messages")
    texts = [m["text"] for m in history["messages"]]
    assert [m["offset"] for m in history["messages"]] == list(range(1, len(texts) + 1))
    assert not any(SECRET in t or REASON in t for t in texts)
    assert [t for t in texts if t.startswith("réponse")] == ["réponse 0", "réponse 1", "réponse 2"]
    assert texts.count(TOMBSTONE_TEXT) == 4
    assert not any(m["from"] == "js-1" or m["name"] == "JS-1" for m in history["messages"])
    waiting, _ = await workflow.digests.unread_for("adv-1")  # the pending digest reads the store when sent
    assert waiting and not any(SECRET in m.text or REASON in m.text for m in waiting)
    pages, _ = await export_all(portal, "js-1")
    assert (pages[0]["profile"], pages[0]["callbacks"]) == (None, [])
    assert not any(SECRET in m["text"] for p in pages for m in p["messages"])
    adv_pages, _ = await export_all(portal, "adv-1")
    assert not any(SECRET in m["text"] or REASON in m["text"] for p in adv_pages for m in p["messages"])
    status, _ = await portal.api("GET", "/api/users/js-1")
    assert status == 404
    journal = [e["kind"] for p in pages for e in p["access_journal"]]
    assert "person.erasure" in journal  # entries about the person are kept, the erasure among them
    status, again = await portal.api("DELETE", "/api/users/js-1/data")
    assert status == 200 and again["messages"] == 0


async def test_a_client_resumes_across_the_erasure_with_no_gap_and_no_erased_text(
        nodes: tuple[Harness, Harness]) -> None:
    portal, other = nodes
    await setup_followup(portal)
    js = await other.client("js-1")
    await js.join(ROOM)
    adv = await other.client("adv-1", "advisor")
    joined = await adv.join(ROOM)
    await js.send(ROOM, f"{SECRET} avant")
    seen = (await adv.next_event("message", timeout=10))["offset"]
    await adv.close()  # the advisor's tab sleeps, its last offset kept
    for i in range(3):
        await js.send(ROOM, f"{SECRET} {i}")
    status, _ = await portal.api("DELETE", "/api/users/js-1/data")
    assert status == 200

    back = await other.client("adv-1", "advisor")
    resumed = await back.request("join", room=ROOM, after=seen, epoch=joined["epoch"])
    assert "reset" not in resumed and resumed["truncated"] is False and resumed["replay"] == 3
    replayed = [await back.next_event("message", timeout=10) for _ in range(3)]
    assert [m["offset"] for m in replayed] == [seen + 1, seen + 2, seen + 3]
    assert [m["text"] for m in replayed] == [TOMBSTONE_TEXT] * 3
    await back.send(ROOM, "toujours là")  # the conversation goes on after the head
    assert (await back.next_event("message", timeout=10))["offset"] == seen + 4


async def test_a_legal_hold_refuses_the_erasure_until_lifted(harness: Harness) -> None:
    await setup_followup(harness)
    status, hold = await harness.api("PUT", "/api/followups/js-1/hold", {"reference": "dossier 2026-117"})
    assert status == 200 and hold["reference"] == "dossier 2026-117"
    status, body = await harness.api("DELETE", "/api/users/js-1/data")
    assert status == 409 and body["error"]["code"] == "legal_hold"
    status, user = await harness.api("GET", "/api/users/js-1")
    assert status == 200 and user["email"] == "karim@example.org"  # nothing erased
    pages, _ = await export_all(harness, "js-1")
    assert pages[0]["hold"]["reference"] == "dossier 2026-117"
    assert "person.erasure" not in [e["kind"] for e in pages[-1]["access_journal"]]
    status, body = await harness.api("PUT", "/api/followups/js-2/hold", {"reference": "x"})
    assert status == 404
    status, body = await harness.api("PUT", "/api/followups/js-1/hold", {"reference": "a\nb"})
    assert status == 400 and body["error"]["code"] == "invalid_message"
    status, _ = await harness.api("DELETE", "/api/followups/js-1/hold")
    assert status == 200
    status, body = await harness.api("GET", "/api/followups/js-1/hold")
    assert status == 404
    status, _ = await harness.api("DELETE", "/api/users/js-1/data")
    assert status == 200


async def test_an_export_or_erasure_the_journal_cannot_record_is_refused_and_erases_nothing(harness: Harness) -> None:
    """Fail closed, as every journaled access (docs/audit.md): 503 ``unavailable``, nothing read
    or erased."""
    await setup_followup(harness)
    js = await harness.client("js-1")
    await js.join(ROOM)
    await js.send(ROOM, SECRET)
    db = harness.app[JOURNAL_KEY].store._db._conn  # the journal's own connection: the chat store's stays up
    assert isinstance(db, sqlite3.Connection)
    db.close()
    for method in ("GET", "DELETE"):
        status, data = await harness.api(method, "/api/users/js-1/data")
        assert status == 503 and data["error"]["code"] == "unavailable", (method, data)
    status, user = await harness.api("GET", "/api/users/js-1")
    assert status == 200 and user["email"] == "karim@example.org"
    assert SECRET in [m.text for m in await harness.node.backends.store.read_after(ROOM, 0, 100)]
