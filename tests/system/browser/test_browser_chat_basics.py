"""The composer in Chromium against a node: on a phone, which has no Shift key, Enter makes a new
line and the visible send button sends; with a mouse Enter still sends. A message the node
refuses says "not sent" and can be tried again or cancelled."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from conftest import Harness
from playwright.async_api import Browser, Page, expect

if TYPE_CHECKING:
    from browser_support import BrowserSession

pytest_plugins = ["browser_support"]  # browser, node, browser_session
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(60)]

WAIT_MS = 10_000
PHONE = {"width": 390, "height": 844}


async def open_jobseeker(session: BrowserSession, node: Harness) -> Page:
    page = await session.context.new_page()
    session.track("jobseeker", page)
    stored = json.dumps({"token": node.token("js-1", "jobseeker", name="Karim Benali"), "user": "", "name": "",
                         "role": "", "expires_at": 2**52})
    await page.add_init_script(f"sessionStorage.setItem('rtserver.session', {json.dumps(stored)});")
    await page.goto(node.url("/static/jobseeker.html"))
    await page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=WAIT_MS)
    return page


@pytest.mark.parametrize("lang", ["fr", "en"])
async def test_on_a_touch_screen_enter_makes_a_new_line_and_the_button_sends(
        browser: Browser, node: Harness, request: pytest.FixtureRequest, lang: str) -> None:
    from browser_support import BrowserSession

    await node.followup()
    context = await browser.new_context(has_touch=True, is_mobile=True, viewport=PHONE, locale=lang)
    session = await BrowserSession.start(context, node, request.node.name)
    try:
        if lang == "en":
            await context.add_init_script("sessionStorage.setItem('rtserver.lang', 'en');")
        page = await open_jobseeker(session, node)
        assert await page.evaluate("() => matchMedia('(pointer: coarse)').matches")
        hint = page.locator(".chat .composer .hint")
        await expect(hint).to_have_text({"fr": "Entrée pour aller à la ligne, bouton Envoyer pour envoyer.",
                                         "en": "Enter for a new line, the Send button to send."}[lang])
        field = page.locator(".chat textarea")
        await field.tap()
        await page.keyboard.type("Première ligne")
        await page.keyboard.press("Enter")
        await page.keyboard.type("Deuxième ligne")
        await expect(field).to_have_value("Première ligne\nDeuxième ligne")
        await expect(page.locator(".chat li.message.mine")).to_have_count(0)
        button = page.locator(".chat .composer button[type=submit]")
        await expect(button).to_be_visible()
        await button.tap()
        sent = page.locator(".chat li.message.mine:not(.pending) .text")
        await expect(sent).to_have_text("Première ligne\nDeuxième ligne", timeout=WAIT_MS)
        await expect(field).to_have_value("")
        session.assert_no_csp_violation()
    finally:
        await session.save_artifacts()
        await context.close()


async def test_with_a_mouse_enter_sends(browser_session: BrowserSession, node: Harness) -> None:
    await node.followup()
    page = await open_jobseeker(browser_session, node)
    hint = page.locator(".chat .composer .hint")
    await expect(hint).to_have_text("Entrée pour envoyer, Maj+Entrée pour aller à la ligne.")
    await page.fill(".chat textarea", "Une ligne")
    await page.keyboard.press("Shift+Enter")
    await page.keyboard.type("et une autre")
    await page.keyboard.press("Enter")
    await expect(page.locator(".chat li.message.mine:not(.pending) .text")).to_have_text("Une ligne\net une autre",
                                                                                        timeout=WAIT_MS)


async def test_a_refused_message_says_not_sent_and_can_be_retried_or_cancelled(
        browser_session: BrowserSession, node: Harness) -> None:
    """Only the node's refusal makes a message "not sent" (it was not stored); then the page
    offers to try again (same key: stored once) or to cancel. The refusal is played by a route
    between the page and the node that answers the first send of each text with `forbidden`."""
    from playwright.async_api import WebSocketRoute

    await node.followup()
    refused: set[str] = set()

    def relay(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame.get("type") == "send" and frame["text"] not in refused:
                refused.add(frame["text"])
                ws.send(json.dumps({"type": "error", "id": frame["id"], "code": "forbidden",
                                    "message": "not a member of this room"}))
                return
            server.send(message)

        ws.on_message(from_page)

    await browser_session.context.route_web_socket("**/ws", relay)
    page = await open_jobseeker(browser_session, node)
    await page.fill(".chat textarea", "Refusé puis renvoyé")
    await page.keyboard.press("Enter")
    pending = page.locator(".chat li.message.pending")
    await expect(pending.locator(".ticks")).to_have_attribute("data-tick", "failed", timeout=WAIT_MS)
    await expect(pending.locator(".ticks")).to_contain_text("Non envoyé")
    await pending.locator("[data-action=retry]").click()
    sent = page.locator(".chat li.message:not(.pending) .text", has_text="Refusé puis renvoyé")
    await expect(sent).to_have_count(1, timeout=WAIT_MS)
    await expect(pending).to_have_count(0)

    await page.fill(".chat textarea", "Refusé puis annulé")
    await page.keyboard.press("Enter")
    await expect(pending.locator(".ticks")).to_have_attribute("data-tick", "failed", timeout=WAIT_MS)
    await pending.locator("[data-action=cancel]").click()
    await expect(pending).to_have_count(0)
    await expect(page.locator(".chat textarea")).to_be_focused()

    advisor = await node.client("adv-1", "advisor")
    room = await page.evaluate("() => window.rtPage.chat.room")
    await advisor.join(room)
    texts = [m["text"] for m in (await advisor.history(room, limit=50))["messages"]]
    assert texts.count("Refusé puis renvoyé") == 1 and "Refusé puis annulé" not in texts, texts
