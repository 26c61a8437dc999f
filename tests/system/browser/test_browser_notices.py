"""What the pages say in words, in real Chromium, French and English: appointment times in the
reader's time zone (a browser context's ``timezone_id``), including notices stored before they
carried their instant (docs/workflow.md#notices); refusals in the page's language, checked
before sending where the page can tell, never the server's codes or English messages."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import pytest
from playwright.async_api import Browser, Page, expect

if TYPE_CHECKING:
    from browser_support import BrowserSession
    from conftest import Harness

pytest_plugins = ["browser_support"]  # browser, node
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(60)]

WAIT_MS = 10_000
ROOM = "followup-js-1"
# A winter instant: 10:44 UTC is 11:44 in Paris (UTC+1) and 07:44 in Cayenne (UTC-3).
START = int(dt.datetime(2027, 1, 12, 10, 44, tzinfo=dt.UTC).timestamp() * 1000)
LOCAL = {"Europe/Paris": ("11:44",), "America/Cayenne": ("07:44", "7:44")}
DAY = {"fr": "mardi 12 janvier 2027", "en": "Tuesday, January 12, 2027"}
SCHEDULED = {"fr": "Entretien vidéo prévu le", "en": "Video interview planned on"}


@asynccontextmanager
async def session_in(browser: Browser, node: Harness, zone: str, name: str) -> AsyncIterator[BrowserSession]:
    """A browser session whose clock is in ``zone`` (as browser_support's, CSP watched)."""
    from browser_support import BrowserSession

    context = await browser.new_context(timezone_id=zone, base_url=node.url("/"))
    session = await BrowserSession.start(context, node, name)
    try:
        yield session
        session.assert_no_csp_violation()
    finally:
        await session.save_artifacts()
        await context.close()


async def open_page(session: BrowserSession, node: Harness, path: str, user: str, role: str) -> Page:
    page = await session.open_signed_in(user, path, node.token(user, role, name=user))
    await page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=WAIT_MS)
    return page


@pytest.mark.parametrize("lang", ["fr", "en"])
@pytest.mark.parametrize("zone", ["Europe/Paris", "America/Cayenne"])
async def test_appointment_notices_give_the_time_in_the_readers_zone(browser: Browser, node: Harness, zone: str,
                                                                     lang: str, request: pytest.FixtureRequest
                                                                     ) -> None:
    await node.followup()
    status, data = await node.api("POST", "/api/appointments",
                                  {"advisor": "adv-1", "jobseeker": "js-1", "start": START, "duration_min": 30})
    assert status == 201, data
    # A notice stored before notices carried their instant: its time was written in UTC.
    await node.node.backends.store.append(ROOM, sender="system", name="Suivi", key=None, ts_ms=START - 86_400_000,
                                          text="Entretien du 12/01/2027 à 10:44 UTC annulé.")
    async with session_in(browser, node, zone, request.node.name) as session:
        for path, user, role in ((f"/static/jobseeker.html?lang={lang}", "js-1", "jobseeker"),
                                 (f"/static/advisor.html?lang={lang}", "adv-1", "advisor")):
            page = await open_page(session, node, path, user, role)
            if role == "advisor":
                await page.click("#portfolio button.row[data-jobseeker='js-1']")
            notices = page.locator(".chat li.message.system .text")
            scheduled = notices.filter(has_text=SCHEDULED[lang])
            await expect(scheduled).to_have_count(1, timeout=WAIT_MS)
            text = await scheduled.inner_text()
            assert DAY[lang] in text and any(t in text for t in LOCAL[zone]) and "(30 min)" in text, text
            old = await notices.filter(has_text="annulé").inner_text()
            assert "UTC" not in old and DAY[lang] in old and any(t in old for t in LOCAL[zone]), old
            shown = " ".join(await notices.all_inner_texts())
            assert "UTC" not in shown and "10:44" not in shown, shown


# -- errors: the page's words for every refusal, never the server's English ------------------------

SAID = {
    "fr": {"order": "L'heure de fin doit être après l'heure de début.",
           "too_many": "Vous avez déjà le nombre maximal de demandes de rappel en cours : annulez-en une ou "
                       "attendez qu'elle soit traitée.",
           "past": "Le rendez-vous doit être dans le futur.",
           "paused": "Vous ne pouvez pas planifier de rendez-vous pour cette personne : son suivi en ligne est "
                     "en pause ou vous ne la suivez plus.",
           "not_sent": "Non envoyé. Vous ne pouvez pas écrire dans cette conversation pour le moment"},
    "en": {"order": "The end time must come after the start time.",
           "too_many": "You already have the most call-back requests open at once: cancel one or wait until "
                       "one is handled.",
           "past": "The appointment must be in the future.",
           "paused": "You cannot schedule an appointment for this person: their online follow-up is paused or "
                     "you no longer follow them.",
           "not_sent": "Not sent. You cannot write in this conversation for now"},
}
# What the server's errors say (codes and English messages, docs/protocol.md, workflow.md): none
# of it may reach a page.
RAW = ("invalid_message", "conflict", "forbidden", "open callback requests", "must follow", "'start'",
       "web follow-up is paused", "must be in the future")


@pytest.mark.parametrize("lang", ["fr", "en"])
async def test_refusals_are_said_in_the_pages_language(browser: Browser, node: Harness, lang: str,
                                                       request: pytest.FixtureRequest) -> None:
    said = SAID[lang]
    await node.followup()
    async with session_in(browser, node, "Europe/Paris", request.node.name) as session:
        jobseeker = await open_page(session, node, f"/static/jobseeker.html?lang={lang}", "js-1", "jobseeker")
        form_message = jobseeker.locator(".callback-form .form-message")
        # Checked before sending: a window that ends before it starts.
        await jobseeker.fill("#callback-reason", "Mon inscription")
        await jobseeker.fill("#callback-from", "12:00")
        await jobseeker.fill("#callback-to", "09:00")
        await jobseeker.click(".callback-form button[type=submit]")
        await expect(form_message).to_have_text(said["order"])
        await expect(jobseeker.locator("#callback-to")).to_have_attribute("aria-invalid", "true")
        assert (await node.api("GET", "/api/followups/js-1/callbacks"))[1]["callbacks"] == []
        # Refused by the server: already as many open requests as allowed (callback_max_open, 3).
        other_tab = await node.client("js-1")
        tomorrow = int(dt.datetime.now(dt.UTC).timestamp() * 1000) + 86_400_000
        for _ in range(3):
            await other_tab.request("callback_request", reason="Autre", channel="phone",
                                    windows=[{"start": tomorrow, "end": tomorrow + 3_600_000}])
        await jobseeker.fill("#callback-to", "17:00")
        await jobseeker.click(".callback-form button[type=submit]")
        await expect(form_message).to_have_text(said["too_many"], timeout=WAIT_MS)

        advisor = await open_page(session, node, f"/static/advisor.html?lang={lang}", "adv-1", "advisor")
        await advisor.click("#portfolio button.row[data-jobseeker='js-1']")
        appointment_message = advisor.locator("#appointments .form-message")
        await advisor.fill("#appointment-start", "2020-01-01T10:00")
        await advisor.click(".appointment-form button[type=submit]")
        await expect(appointment_message).to_have_text(said["past"])
        # The jobseeker pauses the online follow-up: the advisor may not schedule, nor he write.
        await other_tab.request("followup_opt_out")
        await advisor.fill("#appointment-start", "2030-01-01T10:00")
        await advisor.click(".appointment-form button[type=submit]")
        await expect(appointment_message).to_have_text(said["paused"], timeout=WAIT_MS)
        await jobseeker.fill(".chat textarea", "Pendant la pause")
        await jobseeker.press(".chat textarea", "Enter")
        await expect(jobseeker.locator(".chat li.message.pending .ticks")).to_contain_text(said["not_sent"],
                                                                                          timeout=WAIT_MS)
        for page in (jobseeker, advisor):
            shown = await page.inner_text("body")
            assert not [raw for raw in RAW if raw in shown], shown


# -- chat basics: safe links, the length near the limit --------------------------------------------

COUNTS = {"fr": ("3 700 caractères sur 4 000 au plus",
                 "Message trop long de 10 caractères (4 000 au plus) : raccourcissez-le pour l'envoyer."),
          "en": ("3,700 of at most 4,000 characters",
                 "Message too long by 10 characters (4,000 at most): shorten it to send it.")}


@pytest.mark.parametrize("lang", ["fr", "en"])
async def test_links_open_safely_and_the_length_shows_near_the_limit(browser: Browser, node: Harness, lang: str,
                                                                     request: pytest.FixtureRequest) -> None:
    await node.followup()
    advisor = await node.client("adv-1", "advisor")
    await advisor.join(ROOM)
    await advisor.send(ROOM, "Voir https://example.org/offre?id=1. Pas javascript:alert(1) "
                             "ni <a href=\"javascript:alert(2)\">ceci</a> (https://example.org/a_(b)).")
    async with session_in(browser, node, "Europe/Paris", request.node.name) as session:
        page = await open_page(session, node, f"/static/jobseeker.html?lang={lang}", "js-1", "jobseeker")
        text = page.locator(".chat li.message.theirs .text")
        await expect(text).to_have_count(1, timeout=WAIT_MS)
        links = await text.locator("a").evaluate_all(
            "links => links.map(a => [a.getAttribute('href'), a.textContent, a.rel, a.target])")
        assert links == [["https://example.org/offre?id=1", "https://example.org/offre?id=1", "noopener noreferrer",
                          "_blank"],
                         ["https://example.org/a_(b)", "https://example.org/a_(b)", "noopener noreferrer", "_blank"]]
        # The rest is text, shown as typed: no markup of the sender's made it into the page.
        assert "<a href=\"javascript:alert(2)\">ceci</a>" in await text.inner_text()

        counter = page.locator(".chat .composer .counter")
        await page.fill(".chat textarea", "x" * 100)
        await expect(counter).to_be_hidden()
        await page.fill(".chat textarea", "x" * 3700)
        await expect(counter).to_have_text(COUNTS[lang][0].replace(" ", "\u202f") if lang == "fr" else COUNTS[lang][0])
        await page.fill(".chat textarea", "x" * 4010)
        await page.press(".chat textarea", "Enter")
        await expect(counter).to_have_text(COUNTS[lang][1].replace("4 000", "4\u202f000"))
        assert await page.locator(".chat li.message.mine").count() == 0  # not sent, and not cut:
        assert len(await page.input_value(".chat textarea")) == 4010
        await expect(page.locator(".chat textarea")).to_have_attribute("aria-invalid", "true")
        await page.fill(".chat textarea", "x" * 3990)
        await page.press(".chat textarea", "Enter")
        await expect(page.locator(".chat li.message.mine:not(.pending)")).to_have_count(1, timeout=WAIT_MS)
        await expect(counter).to_be_hidden()
