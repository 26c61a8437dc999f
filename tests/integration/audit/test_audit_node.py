"""The access journal on a real node: each access point records, on SQLite and on two nodes sharing
Redis; the portal reads it back through ``GET /api/audit``; a journal that cannot record refuses
the access (``unavailable``) while chat send goes on."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import aiohttp
import pytest
from conftest import API_KEY, Harness

from rtserver.audit.journal import JOURNAL_KEY
from rtserver.cli import main
from rtserver.client import ServerError

pytestmark = pytest.mark.timeout(120)
ROOM = "followup-js-1"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"media_listen_address": "127.0.0.1", "sqlite_synchronous": "normal"}


@pytest.fixture(params=["sqlite", "redis"])
def nodes(request: pytest.FixtureRequest) -> tuple[Harness, Harness]:
    """(portal node, advisor's node): the same node on SQLite, two nodes sharing Redis."""
    if request.param == "sqlite":
        harness = request.getfixturevalue("harness")
        return harness, harness
    first, second = request.getfixturevalue("redis_nodes")
    return first, second


async def journal(portal: Harness, **query: Any) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    params = {k: str(v) for k, v in query.items()}
    while True:
        async with portal.session.get(portal.url("/api/audit"), params=params,
                                      headers={"X-Api-Key": API_KEY}) as resp:
            body = await resp.json()
            assert resp.status == 200, body
        entries += body["entries"]
        if body["next"] is None:
            return entries
        params["cursor"] = body["next"]


async def test_every_access_point_records_who_read_whose_data(nodes: tuple[Harness, Harness]) -> None:
    portal, other = nodes
    await portal.followup("adv-1", "js-1")
    js = await other.client("js-1")
    await js.join(ROOM)  # his own conversation: not journaled
    await js.history(ROOM)
    adv = await other.client("adv-1", "advisor")
    await adv.join(ROOM)
    await adv.history(ROOM)
    assert (await adv.request("followup"))["portfolio"][0]["jobseeker"] == "js-1"
    joined = await adv.request("media_join", room=ROOM)
    assert joined["type"] == "media_joined"
    await adv.send(ROOM, "bonjour")  # a message is not an access: not journaled
    async with portal.session.get(portal.url("/api/advisors/adv-1/portfolio"),
                                  headers={"X-Api-Key": API_KEY, "X-Actor": "supervisor-9",
                                           "X-Request-Id": "req-42"}) as resp:
        assert resp.status == 200
    status, _ = await portal.api("GET", "/api/followups/js-1/export")
    assert status == 200
    status, _ = await portal.api("GET", f"/api/rooms/{ROOM}/messages")
    assert status == 200
    status, _ = await portal.api("PUT", "/api/users/adv-2", {"name": "B", "role": "advisor", "volunteer": True})
    status, _ = await portal.api("POST", "/api/followups/js-1/transfer", {"advisor": "adv-2"})
    assert status == 200

    entries = await journal(portal, subject="js-1")
    assert [(e["kind"], e["actor"]) for e in entries] == [
        ("conversation.join", "adv-1"), ("conversation.history", "adv-1"), ("portfolio.read", "adv-1"),
        ("interview.join", "adv-1"), ("portfolio.read", "supervisor-9"), ("conversation.export", "*api"),
        ("conversation.export", "*api"), ("followup.transfer", "*api")]
    assert [e["seq"] for e in entries] == list(range(1, 9))
    assert all(e["subject"] == "js-1" for e in entries)
    ws_node = other.node.id
    assert {e["node"] for e in entries[:4]} == {ws_node} and {e["node"] for e in entries[4:]} == {portal.node.id}
    assert entries[0]["request"].startswith(f"{ws_node}:") and entries[0]["detail"] == {"room": ROOM}
    assert entries[4]["request"] == "req-42" and entries[4]["detail"] == {"advisor": "adv-1"}
    assert entries[7]["detail"] == {"to": "adv-2"}
    assert [e["kind"] for e in await journal(portal, actor="supervisor-9")] == ["portfolio.read"]
    assert len(await journal(portal, actor="*api", subject="js-1", limit=1)) == 3
    assert await journal(portal, since=entries[-1]["ts"] + 1) == []
    assert await journal(portal, subject="adv-1") == []  # the advisor's own data was not read by anyone


async def test_the_verify_command_reads_what_the_nodes_wrote(nodes: tuple[Harness, Harness],
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    portal, other = nodes
    await portal.followup("adv-1", "js-1")
    adv = await other.client("adv-1", "advisor")
    await adv.join(ROOM)
    await adv.history(ROOM)
    assert await asyncio.to_thread(main, ["audit", "verify", "--store", portal.settings.store]) == 0
    assert "verified: 2 entries in 1 streams" in capsys.readouterr().out


async def test_a_journal_that_cannot_record_refuses_the_access_and_chat_goes_on(harness: Harness) -> None:
    await harness.followup("adv-1", "js-1")
    adv = await harness.client("adv-1", "advisor")
    await adv.join(ROOM)
    db = harness.app[JOURNAL_KEY].store._db._conn  # the journal's own connection: the chat store's stays up
    assert isinstance(db, sqlite3.Connection)
    db.close()
    with pytest.raises(ServerError, match="unavailable: the access journal"):
        await adv.history(ROOM)
    assert (await adv.send(ROOM, "still here"))["offset"] >= 1
    status, data = await harness.api("GET", "/api/followups/js-1/export")
    assert status == 503 and data["error"]["code"] == "unavailable"


async def test_audit_query_parameters_are_checked(harness: Harness) -> None:
    for query in ("subject=a%20b", "actor=*other", "since=-1", "cursor=abc", "limit=x"):
        async with harness.session.get(harness.url(f"/api/audit?{query}"), headers={"X-Api-Key": API_KEY}) as resp:
            body = await resp.json()
            assert resp.status == 400 and body["error"]["code"] == "invalid_message", (query, body)
    async with aiohttp.ClientSession() as session:
        async with session.get(harness.url("/api/advisors/adv-1/portfolio"),
                               headers={"X-Api-Key": API_KEY, "X-Actor": "not an id"}) as resp:
            assert resp.status == 400
