"""Health, readiness, metrics and the portal API."""

from __future__ import annotations

from rtserver.client import ServerError


async def test_health_ready_and_metrics(harness):
    async with harness.session.get(harness.url("/healthz")) as resp:
        assert resp.status == 200 and (await resp.json())["status"] == "ok"
    async with harness.session.get(harness.url("/readyz")) as resp:
        assert resp.status == 200 and (await resp.json())["node"] == harness.node.id
    await harness.room("grp", {"a": "member", "b": "member"})
    a = await harness.client("a")
    b = await harness.client("b")
    await a.join("grp")
    await b.join("grp")
    await a.send("grp", "hi")
    await b.next_event("message", timeout=5)
    try:
        await a.request("send", room="grp")
    except ServerError:
        pass
    async with harness.session.get(harness.url("/metrics")) as resp:
        text = await resp.text()
    assert "rtserver_connections 2.0" in text
    assert "rtserver_messages_in_total 1.0" in text
    assert "rtserver_deliveries_total" in text and "rtserver_fanout_latency_seconds_count" in text
    assert 'rtserver_errors_total{code="invalid_message"} 1.0' in text


async def test_readyz_fails_when_store_is_closed(harness):
    await harness.node.backends.store.close()
    async with harness.session.get(harness.url("/readyz")) as resp:
        assert resp.status == 503 and (await resp.json())["status"] == "store unavailable"


async def test_export_and_remove_member(harness):
    await harness.room("conv", {"adv": "member", "js": "member"}, kind="conversation")
    js = await harness.client("js")
    await js.join("conv")
    for i in range(3):
        await js.send("conv", f"m{i}")
    status, export = await harness.api("GET", "/api/rooms/conv/messages?after=1")
    assert status == 200 and [m["text"] for m in export["messages"]] == ["m1", "m2"]
    status, body = await harness.api("DELETE", "/api/rooms/conv/members/js")
    assert (status, body["removed"]) == (200, True)
    removed = await js.next_event("member", timeout=5, where=lambda e: e["event"] == "removed")
    assert removed["user"] == "js"
    try:
        await js.send("conv", "still there?")
        raise AssertionError("a removed member must not post")
    except ServerError as err:
        assert err.code == "not_joined"


async def test_conversation_has_two_members(harness):
    status, body = await harness.api("POST", "/api/rooms", {
        "id": "c", "kind": "conversation", "members": [{"user": "a"}, {"user": "b"}, {"user": "c"}]})
    assert (status, body["error"]["code"]) == (400, "invalid_message")


async def test_the_root_leads_to_the_home_page_not_a_404(harness):
    """http://127.0.0.1:8080/ is the first address a newcomer opens: it leads to the home page,
    which links the demo, the pages and the documentation."""
    async with harness.session.get(harness.url("/"), allow_redirects=False) as resp:
        assert resp.status == 302 and resp.headers["Location"] == "/static/index.html"
    async with harness.session.get(harness.url("/")) as resp:
        assert resp.status == 200 and "Content-Security-Policy" in resp.headers
        page = await resp.text()
    for link in ('href="/demo"', 'href="/static/jobseeker.html"', 'href="/static/advisor.html"',
                 'href="/static/check.html"', 'data-i18n="homeDocsWhere"'):
        assert link in page
