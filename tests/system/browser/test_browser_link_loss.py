"""A jobseeker page whose link dies without closing, against a real node in Chromium.

The page is opened through a relay (tests/link_proxy.py) that the test freezes: nothing goes
through, nothing is closed, as on a train or a laptop whose Wi-Fi dropped. The advisor is a
Python client connected to the node directly.

- a message written during an outage longer than the SDK's 15 s request timeout stays queued
  (never "not sent") and is stored exactly once when the link is back;
- the page's own ping finds the dead link and its banner says so within the ping's deadline;
- the node's WebSocket heartbeat (``heartbeat_s``) drops the silent connection, so the advisor
  sees the jobseeker offline within a bounded time;
- a message waiting for the connection can be cancelled, and is then never sent.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio
from conftest import Harness
from link_proxy import LinkProxy
from playwright.async_api import Page, expect

if TYPE_CHECKING:
    from browser_support import BrowserSession

pytest_plugins = ["browser_support"]  # browser, node, browser_session
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

WAIT_MS = 10_000
HEARTBEAT_S = 2.0
# The page pings after heartbeat_s of quiet (hello.limits) and gives up after half of it.
PING_EVERY_MS = int(HEARTBEAT_S * 1000)
PING_DEADLINE_MS = PING_EVERY_MS // 2


@pytest.fixture
def node_settings() -> dict[str, Any]:
    return {"heartbeat_s": HEARTBEAT_S}


@pytest_asyncio.fixture(loop_scope="module")
async def relay(node: Harness) -> AsyncIterator[LinkProxy]:
    url = node.server.make_url("/")
    proxy = await LinkProxy(url.host or "127.0.0.1", url.port or 0).start()
    try:
        yield proxy
    finally:
        await proxy.close()


async def open_jobseeker(browser_session: BrowserSession, relay: LinkProxy, lang: str = "fr") -> Page:
    token = browser_session.harness.token("js-1", "jobseeker", name="Karim Benali")
    page = await browser_session.context.new_page()
    browser_session.track("jobseeker", page)
    stored = json.dumps({"token": token, "user": "", "name": "", "role": "", "expires_at": 2**52})
    await page.add_init_script(f"sessionStorage.setItem('rtserver.session', {json.dumps(stored)});")
    await page.goto(relay.url(f"/static/jobseeker.html?lang={lang}"))
    await page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=WAIT_MS)
    return page


async def texts_stored(node: Harness, room: str) -> list[str]:
    advisor = await node.client("adv-1", "advisor")
    await advisor.join(room)
    page = await advisor.history(room, limit=50)
    return [m["text"] for m in page["messages"]]


async def test_a_message_written_during_a_long_outage_is_sent_once_when_the_link_is_back(
        browser_session: BrowserSession, node: Harness, relay: LinkProxy) -> None:
    await node.followup()
    karim = await open_jobseeker(browser_session, relay)
    room = await karim.evaluate("() => window.rtPage.chat.room")
    relay.freeze()
    await karim.fill(".chat textarea", "Écrit pendant la coupure")
    await karim.keyboard.press("Enter")
    pending = karim.locator(".chat li.message.pending")
    await expect(pending).to_have_count(1)
    # Once the ping found the link dead, the message says it waits for the connection.
    await expect(pending.locator(".ticks")).to_have_attribute("data-tick", "waiting", timeout=WAIT_MS)
    # Past the SDK's 15 s request timeout, which used to turn it into "not sent": the outage's
    # length is the point here, so this waits on the clock, checking the mark every second.
    started = time.monotonic()
    while time.monotonic() - started < 17:
        await expect(pending.locator(".ticks")).not_to_have_attribute("data-tick", "failed", timeout=1_000)
        await karim.wait_for_timeout(1_000)
    await expect(pending).to_have_count(1)
    relay.thaw()
    await expect(karim.locator(".chat li.message:not(.pending) .text", has_text="Écrit pendant la coupure")
                 ).to_have_count(1, timeout=WAIT_MS + 5_000)
    await expect(pending).to_have_count(0)
    assert (await texts_stored(node, room)).count("Écrit pendant la coupure") == 1


# What the page says, in each of its languages (static/app/i18n.js).
SAYS = {"fr": {"lost": "Connexion perdue", "waiting": "En attente de la connexion"},
        "en": {"lost": "Connection lost", "waiting": "Waiting for the connection"}}


@pytest.mark.parametrize("lang", ["fr", "en"])
async def test_a_dead_link_is_shown_and_the_other_side_sees_the_jobseeker_offline(
        browser_session: BrowserSession, node: Harness, relay: LinkProxy, lang: str) -> None:
    await node.followup()
    advisor = await node.client("adv-1", "advisor")
    karim = await open_jobseeker(browser_session, relay, lang)
    room = await karim.evaluate("() => window.rtPage.chat.room")
    joined = await advisor.join(room)
    assert any(m.get("user") == "js-1" and m.get("status") == "online" for m in joined["members"]), joined

    relay.freeze()
    frozen_at = time.monotonic()
    banner = karim.locator("#connection")
    # The ping's interval plus its deadline, and a second of slack for the page's timers.
    await expect(banner).to_have_attribute("data-state", "lost", timeout=PING_EVERY_MS + PING_DEADLINE_MS + 1_000)
    await expect(banner).to_contain_text(SAYS[lang]["lost"])
    print(f"banner after {time.monotonic() - frozen_at:.1f} s")
    # The node's heartbeat: a ping every heartbeat_s, the peer dropped when the pong is missing.
    event = await advisor.next_event("presence", timeout=3 * HEARTBEAT_S + 2,
                                     where=lambda e: e.get("user") == "js-1" and e.get("status") == "offline")
    assert event["status"] == "offline"
    print(f"offline for the advisor after {time.monotonic() - frozen_at:.1f} s")
    assert time.monotonic() - frozen_at < 3 * HEARTBEAT_S + 2

    # Written while the banner is up: it waits for the connection, and can be cancelled.
    await karim.fill(".chat textarea", "Finalement non")
    await karim.keyboard.press("Enter")
    pending = karim.locator(".chat li.message.pending")
    await expect(pending.locator(".ticks")).to_have_attribute("data-tick", "waiting")
    await expect(pending.locator(".ticks")).to_contain_text(SAYS[lang]["waiting"])
    await pending.locator("[data-action=cancel]").click()
    await expect(pending).to_have_count(0)

    relay.thaw()
    await expect(banner).to_have_attribute("data-state", "back", timeout=WAIT_MS)
    await karim.fill(".chat textarea", "De retour")
    await karim.keyboard.press("Enter")
    await expect(karim.locator(".chat li.message:not(.pending) .text", has_text="De retour")).to_have_count(1)
    assert "Finalement non" not in await texts_stored(node, room)
