"""The composer on a phone, in Chromium against a node: a touch screen has no Shift key, so Enter
makes a new line there and the visible send button sends; with a mouse Enter still sends."""

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
