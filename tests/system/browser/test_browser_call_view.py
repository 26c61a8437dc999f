"""The call view in real Chromium: the advisor console (French) calls the jobseeker's page (English).

What is checked, as people meet it: the jobseeker's page rings (accept, decline; the advisor sees a
decline, the jobseeker a missed call); a refused camera or microphone is explained in the page and
told to the advisor instead of vanishing; the call covers the page with the other person large
and one's own picture small, a timer, mute and camera-off said in words on both sides (initials
instead of a black tile); a dropped connection shows "reconnecting"; a reload rejoins; a second tab
that takes the call leaves the first saying so, with a way back; on a phone "Leave" sits apart
and asks first. Both sizes are checked with axe. With ``RTSERVER_UPDATE_SCREENSHOTS=1`` the
desktop and phone views are written to docs/screenshots/ (JPEG at quality 70, about 30-40 KB each).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio
from conftest import Harness
from playwright.async_api import Browser, Page, expect
from test_browser_pages import (  # the portal's fixtures too, for the widget
    axe_violations,
    frames_from,
    node_settings,
    portal,
    portal_host,
    portal_lang,
    portal_port,
    ready,
    wait_host_event,
)

if TYPE_CHECKING:  # imported by pytest as a plugin (below), so that its asserts are rewritten
    from browser_support import BrowserSession

pytest_plugins = ["browser_support"]  # its fixtures: browser, node, browser_session
__all__ = ["node_settings", "portal", "portal_host", "portal_lang", "portal_port"]  # fixtures, used by name
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

WAIT_MS = 15_000
PHONE = {"width": 390, "height": 844}
JS_ROW = "#portfolio button.row[data-jobseeker='js-1']"

# Chromium's fake devices always answer; a person who refused is played by getUserMedia refusing
# as Chromium does (NotAllowedError) and the Permissions API saying which device was refused.
REFUSE = """(refuse) => {
  const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (c) => {
    if ((c && c.video) || refuse === 'both') throw new DOMException('Permission denied', 'NotAllowedError');
    return gum(c);
  };
  const query = navigator.permissions.query.bind(navigator.permissions);
  navigator.permissions.query = async (d) => d.name === 'camera' ? {state: 'denied'}
    : d.name === 'microphone' ? {state: refuse === 'both' ? 'denied' : 'granted'} : query(d);
}"""


async def open_page(session: BrowserSession, label: str, path: str, token: str, *,
                    viewport: dict[str, int] | None = None, refuse: str | None = None) -> Page:
    """Open a page signed in through sessionStorage (as browser_support does), optionally refusing devices."""
    page = await session.context.new_page()
    if viewport:
        await page.set_viewport_size(viewport)
    session.track(label, page)
    origin = session.harness.url("/").rstrip("/")
    stored = json.dumps({"token": token, "user": "", "name": "", "role": "", "expires_at": 2**52})
    await page.add_init_script(f"if (location.origin === {json.dumps(origin)})"
                               f" sessionStorage.setItem('rtserver.session', {json.dumps(stored)});")
    if refuse:
        await page.add_init_script(f"({REFUSE})({json.dumps(refuse)})")
    await page.goto(session.harness.url(path))
    await ready(page)
    return page


async def pages(session: BrowserSession, node: Harness, *, viewport: dict[str, int] | None = None,
                refuse: str | None = None) -> tuple[Page, Page]:
    await node.followup()
    advisor = await open_page(session, "advisor", "/static/advisor.html",
                              node.token("adv-1", "advisor", name="Claire Martin"))
    jobseeker = await open_page(session, "jobseeker", "/static/jobseeker.html?lang=en",
                                node.token("js-1", name="Karim Benali"), viewport=viewport, refuse=refuse)
    await advisor.click(JS_ROW)
    return advisor, jobseeker


async def call(advisor: Page) -> None:
    """The advisor starts the interview: her call view opens and the jobseeker's page is rung."""
    await advisor.click("#start-video")
    await expect(advisor.locator(".call-view .call-status")).to_have_text(
        "Appel de Karim Benali en cours… Sa page sonne.", timeout=WAIT_MS)


async def in_call(advisor: Page, jobseeker: Page) -> None:
    for page in (advisor, jobseeker):
        await page.wait_for_function("() => window.rtPage.interview.interview?.participants.size === 1",
                                     timeout=WAIT_MS)
    await frames_from(advisor, "js-1")
    await frames_from(jobseeker, "adv-1")


async def answered(advisor: Page, jobseeker: Page) -> None:
    await call(advisor)
    ring = jobseeker.locator(".ring[role=alertdialog]")
    await expect(ring).to_be_visible(timeout=WAIT_MS)
    await ring.locator("[data-action=answer]").click()
    await in_call(advisor, jobseeker)


async def shot(page: Page, name: str) -> None:
    from browser_support import doc_screenshot  # the plugin, imported by then

    await doc_screenshot(page, name)


# -- defect 5: a camera or microphone that cannot start -------------------------------------------

@pytest.mark.parametrize("refuse", ["camera", "both"])
async def test_refused_devices_are_explained_and_the_advisor_is_told(
        browser_session: BrowserSession, node: Harness, refuse: str) -> None:
    advisor, jobseeker = await pages(browser_session, node, refuse=refuse)
    await call(advisor)
    await jobseeker.click("#join-video")

    notice = jobseeker.locator(".call-notice[data-kind=devices]")
    title = {"camera": "Your camera could not start", "both": "Your camera and microphone could not start"}[refuse]
    await expect(notice.locator("h2")).to_have_text(title, timeout=WAIT_MS)
    await expect(notice).to_contain_text("Click the lock (or camera) icon")
    # Told at once, and not "you left the interview" (it was never joined).
    await expect(jobseeker.locator("#announce-assertive")).to_contain_text(title, timeout=WAIT_MS)
    assert "left the interview" not in await jobseeker.locator("#announce-polite").inner_text()
    # The advisor's view says what happened, in her language.
    said = {"camera": "Karim Benali n'a pas pu démarrer sa caméra.",
            "both": "Karim Benali n'a pu démarrer ni sa caméra ni son micro."}[refuse]
    await expect(advisor.locator(".call-peer-notice")).to_have_text(said, timeout=WAIT_MS)
    # The explanation stays (it was wiped at once) while the interview it would have joined is gone.
    await jobseeker.wait_for_function("() => !window.rtPage.interview.active", timeout=WAIT_MS)
    await expect(notice).to_be_visible()
    assert await axe_violations(jobseeker) == []

    join_audio = notice.locator("[data-action=join-audio]")
    if refuse == "both":
        await expect(join_audio).to_have_count(0)  # no sound either: audio only is not offered
        return
    await expect(join_audio).to_be_focused()
    await join_audio.click()
    await expect(notice).to_have_count(0, timeout=WAIT_MS)
    await jobseeker.wait_for_function("() => window.rtPage.interview.interview?.participants.size === 1",
                                      timeout=WAIT_MS)
    # The advisor sees him in the call without a camera: his initials, and "camera off" in words.
    tile = advisor.locator("figure.remote[data-user='js-1']")
    await expect(tile).to_have_class(re.compile(r"\bcamera-off\b"), timeout=WAIT_MS)
    await expect(tile.locator(".avatar")).to_have_text("KB")
    await expect(tile.locator(".avatar")).to_be_visible()
    await expect(tile.locator("[data-badge=camera-off]")).to_have_text("Caméra coupée")


@pytest_asyncio.fixture(loop_scope="module")
async def refusing(browser: Browser, node: Harness, request: pytest.FixtureRequest) -> AsyncIterator[BrowserSession]:
    """A browser that refuses both devices as a person answering "Block" does: Chromium without the
    fake prompt that accepts everything, prompts denied, nothing allowed for the node's origin."""
    from browser_support import CHROMIUM, CHROMIUM_ARGS, BrowserSession  # the plugin, imported by then

    args = [a for a in CHROMIUM_ARGS if a != "--use-fake-ui-for-media-stream"] + ["--deny-permission-prompts"]
    chromium = await browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=args)
    context = await chromium.new_context(permissions=[], base_url=node.url("/"))
    session = await BrowserSession.start(context, node, request.node.name)
    try:
        yield session
    finally:
        await session.save_artifacts()
        await chromium.close()


async def test_in_a_browser_that_refuses_both_devices(browser_session: BrowserSession, refusing: BrowserSession,
                                                      node: Harness) -> None:
    """Chromium's own refusal: the call says what happened, and the pre-call check neither offers
    sound only nor grades a voice it could not hear (it said 4.4 out of 4.5)."""
    await node.followup()
    advisor = await open_page(browser_session, "advisor", "/static/advisor.html",
                              node.token("adv-1", "advisor", name="Claire Martin"))
    await advisor.click(JS_ROW)
    jobseeker = await open_page(refusing, "jobseeker", "/static/jobseeker.html?lang=en",
                                node.token("js-1", name="Karim Benali"))
    await call(advisor)
    await jobseeker.click("#join-video")
    notice = jobseeker.locator(".call-notice[data-kind=devices]")
    await expect(notice.locator("h2")).to_contain_text("could not start", timeout=WAIT_MS)
    await expect(advisor.locator(".call-peer-notice")).to_contain_text("Karim Benali n'a", timeout=WAIT_MS)

    check = await open_page(refusing, "check", "/static/check.html?lang=en", node.token("js-1", name="Karim Benali"))
    await check.click("#run")
    await check.wait_for_function("() => document.body.dataset.verdict", timeout=30_000)
    result = await check.evaluate("() => window.rtPage.result")
    m = result["measurements"]
    assert (m["camera"]["permission"], m["microphone"]["permission"]) == ("denied", "denied"), m
    assert (result["mode"], result["mos"]) == ("none", None)
    await expect(check.locator("#audio-only")).to_be_hidden()
    assert "voice quality" not in (await check.locator("#figures").inner_text())


# -- ringing ----------------------------------------------------------------------------------------

async def test_the_jobseekers_page_rings_and_the_advisor_sees_the_answer(
        browser_session: BrowserSession, node: Harness) -> None:
    advisor, jobseeker = await pages(browser_session, node)
    await call(advisor)
    ring = jobseeker.locator(".ring[role=alertdialog]")
    await expect(ring.locator(".ring-title")).to_have_text("Claire Martin is calling you for the video interview",
                                                           timeout=WAIT_MS)
    await expect(jobseeker.locator("#announce-assertive")).to_have_text(
        "Claire Martin is calling you for the video interview", timeout=WAIT_MS)
    await expect(ring.locator("[data-action=answer]")).to_be_focused()
    assert await jobseeker.evaluate("() => window.rtPage.ringer._tones !== null")  # the ring tone plays
    assert await axe_violations(jobseeker) == []

    # Declined: the advisor's view says so.
    await ring.locator("[data-action=decline]").click()
    await expect(ring).to_have_count(0)
    await expect(advisor.locator(".call-peer-notice")).to_have_text("Karim Benali a refusé l'appel.",
                                                                    timeout=WAIT_MS)
    await advisor.click(".call-view [data-action=leave]")
    await expect(advisor.locator(".call-view")).to_have_count(0, timeout=WAIT_MS)

    # Called again and the advisor gives up before an answer: a missed call, not a ringing page.
    await call(advisor)
    await expect(ring).to_be_visible(timeout=WAIT_MS)
    await advisor.click(".call-view [data-action=leave]")
    missed = jobseeker.locator(".ring[data-state=missed]")
    await expect(missed.locator(".ring-title")).to_have_text("Missed call from Claire Martin", timeout=WAIT_MS)
    assert await jobseeker.evaluate("() => window.rtPage.ringer._tones === null")
    await missed.locator("[data-action=dismiss]").click()

    # Answered.
    await answered(advisor, jobseeker)
    await expect(jobseeker.locator(".ring")).to_have_count(0)


async def test_a_ringing_call_opens_the_widget_on_a_portal(
        browser_session: BrowserSession, node: Harness, portal: dict[str, Any]) -> None:
    advisor = await open_page(browser_session, "advisor", "/static/advisor.html",
                              node.token("adv-1", "advisor", name="Claire Martin"))
    host = await browser_session.context.new_page()
    browser_session.track("portal", host)
    await host.goto(portal["url"])
    await wait_host_event(host, "e.type === 'ready'")
    await expect(host.locator(".rtw-launcher")).to_have_attribute("aria-expanded", "false")
    await advisor.click(JS_ROW)
    await call(advisor)
    ringing = await wait_host_event(host, "e.type === 'call_ringing'")
    assert ringing["room"] == "followup-js-1"
    await expect(host.locator(".rtw-launcher")).to_have_attribute("aria-expanded", "true")
    frame = next(f for f in host.frames if "/static/jobseeker.html" in f.url)
    await expect(frame.locator(".ring .ring-title")).to_have_text("Claire Martin vous appelle pour l'entretien vidéo")


# -- the call view: layout and states -----------------------------------------------------------

async def test_the_call_view_shows_the_other_large_and_both_sides_states(
        browser_session: BrowserSession, node: Harness) -> None:
    advisor, jobseeker = await pages(browser_session, node)
    await answered(advisor, jobseeker)
    for page in (advisor, jobseeker):
        view = await page.locator(".call-view").bounding_box()
        size = page.viewport_size
        assert view and size and view["width"] == size["width"] and view["height"] == size["height"]
        # Over the page, which a keyboard no longer reaches.
        assert await page.evaluate("() => document.querySelector('main').inert")
        remote = await page.locator("figure.remote").bounding_box()
        local = await page.locator("figure.local").bounding_box()
        assert remote and local and remote["width"] > 3 * local["width"]
        await expect(page.locator(".call-timer")).to_have_text(re.compile(r"^\d+:\d\d$"), timeout=WAIT_MS)
    await expect(advisor.locator("#call-view-title")).to_have_text("Entretien vidéo avec Karim Benali")

    # Muted: in words on his own picture, and on the advisor's side.
    await jobseeker.click("[data-action=microphone]")
    await expect(jobseeker.locator("[data-action=microphone]")).to_have_attribute("aria-pressed", "true")
    await expect(jobseeker.locator("figure.local [data-badge=mic-off]")).to_have_text("Your microphone is off")
    adv_tile = advisor.locator("figure.remote[data-user='js-1']")
    await expect(adv_tile.locator("[data-badge=mic-off]")).to_have_text("Micro coupé", timeout=WAIT_MS)
    await expect(advisor.locator("#announce-polite")).to_have_text("Karim Benali a coupé son micro", timeout=WAIT_MS)
    # Camera off: his initials rather than a black tile.
    await jobseeker.click("[data-action=camera]")
    await expect(adv_tile).to_have_class(re.compile(r"\bcamera-off\b"), timeout=WAIT_MS)
    await expect(adv_tile.locator(".avatar")).to_be_visible()
    await expect(adv_tile.locator(".avatar")).to_have_text("KB")
    await expect(jobseeker.locator("figure.local .avatar")).to_be_visible()
    # Back on.
    await jobseeker.click("[data-action=microphone]")
    await expect(adv_tile.locator("[data-badge=mic-off]")).to_have_count(0, timeout=WAIT_MS)

    assert await axe_violations(advisor) == []
    assert await axe_violations(jobseeker) == []
    await jobseeker.click("[data-action=camera]")
    await expect(adv_tile).not_to_have_class(re.compile(r"\bcamera-off\b"), timeout=WAIT_MS)
    await frames_from(advisor, "js-1", above=await frames_from(advisor, "js-1") + 5)
    await shot(advisor, "call-desktop")

    # Docked, the conversation is usable again; expanded, covered again.
    await advisor.click("[data-action=dock]")
    await expect(advisor.locator(".call-view")).to_have_attribute("data-layout", "docked")
    assert not await advisor.evaluate("() => document.querySelector('main').inert")
    await advisor.fill(".chat textarea", "Je vous vois bien")
    await advisor.click("[data-action=dock]")
    assert await advisor.evaluate("() => document.querySelector('main').inert")


async def test_another_microphone_is_chosen_during_the_call(browser_session: BrowserSession, node: Harness) -> None:
    advisor, jobseeker = await pages(browser_session, node)
    await answered(advisor, jobseeker)
    await jobseeker.click("[data-action=devices]")
    await expect(jobseeker.locator("#call-device-video")).to_be_focused()  # the first list
    select = jobseeker.locator("#call-device-audio")
    choices = await select.evaluate("(s) => [...s.options].map(o => o.value)")
    current = await jobseeker.evaluate(
        "() => window.rtPage.interview.interview.localStream.getAudioTracks()[0].getSettings().deviceId")
    other = next((c for c in choices if c not in (current, "default")), None)
    assert other, f"Chromium's fake devices offer one microphone only: {choices}"
    await select.select_option(other)
    sent = """() => window.rtPage.interview.interview.publishPc.getSenders()
      .find(s => s.track && s.track.kind === 'audio').track.getSettings().deviceId"""
    await jobseeker.wait_for_function(f"(other) => ({sent})() === other", arg=other, timeout=WAIT_MS)
    # The advisor goes on hearing him, with no renegotiation.
    await advisor.evaluate("""() => { window.audioNow = 0; setInterval(async () => {
      const got = await window.rtPage.interview.interview.receivedStats();
      window.audioNow = (got['js-1'] && got['js-1'].audio) ? got['js-1'].audio.totalSamplesReceived : 0; }, 100); }""")
    first = await (await advisor.wait_for_function("() => window.audioNow > 0 && window.audioNow",
                                                   timeout=WAIT_MS)).json_value()
    await advisor.wait_for_function("(n) => window.audioNow > n + 48000", arg=first, timeout=WAIT_MS)
    assert await axe_violations(jobseeker) == []


# -- reconnecting and rejoining -------------------------------------------------------------------

async def test_a_dropped_connection_shows_reconnecting_and_a_reload_rejoins(
        browser_session: BrowserSession, node: Harness) -> None:
    advisor, jobseeker = await pages(browser_session, node)
    await answered(advisor, jobseeker)
    overlay = advisor.locator("figure.remote[data-user='js-1'] .tile-overlay")
    await expect(overlay).to_be_hidden()

    await jobseeker.evaluate("""() => {
      window.gate = new Promise((resolve) => { window.openGate = resolve; });
      window.rtPage.client.dropConnection({until: window.gate});
    }""")
    await expect(jobseeker.locator(".call-reconnecting")).to_have_text(
        "Your connection is interrupted. Reconnecting…", timeout=WAIT_MS)
    await expect(overlay).to_have_text("La connexion de Karim Benali est interrompue. Reconnexion en cours…",
                                       timeout=WAIT_MS)
    await jobseeker.evaluate("() => window.openGate()")
    await expect(overlay).to_be_hidden(timeout=WAIT_MS)
    await expect(jobseeker.locator(".call-reconnecting")).to_be_hidden(timeout=WAIT_MS)

    # A reload: the page comes back into the call by itself, with new connections.
    before = await frames_from(advisor, "js-1")
    await jobseeker.reload()
    await ready(jobseeker)
    await expect(jobseeker.locator(".call-view")).to_be_visible(timeout=WAIT_MS)
    await jobseeker.wait_for_function("() => window.rtPage.interview.interview?.joined?.resumed === true",
                                      timeout=WAIT_MS)
    await frames_from(jobseeker, "adv-1")
    await frames_from(advisor, "js-1", above=before + 10)
    await expect(overlay).to_be_hidden(timeout=WAIT_MS)
    # Leaving for good: a reload no longer rejoins.
    await jobseeker.click("[data-action=leave]")
    await expect(jobseeker.locator(".call-view")).to_have_count(0, timeout=WAIT_MS)
    await jobseeker.reload()
    await ready(jobseeker)
    await expect(jobseeker.locator("#join-video")).to_be_visible()
    await expect(jobseeker.locator(".call-view")).to_have_count(0)


async def test_a_second_tab_takes_the_call_and_the_first_can_bring_it_back(
        browser_session: BrowserSession, node: Harness) -> None:
    advisor, first = await pages(browser_session, node)
    await answered(advisor, first)
    second = await open_page(browser_session, "jobseeker-2", "/static/jobseeker.html?lang=en",
                             node.token("js-1", name="Karim Benali"))
    await second.click("#join-video")
    notice = first.locator(".call-notice[data-kind=taken-over]")
    await expect(notice.locator("h2")).to_have_text("The interview continues in another tab", timeout=WAIT_MS)
    await expect(first.locator(".call-view")).to_have_count(0)
    await expect(notice.locator("[data-action=take-back]")).to_be_focused()
    await frames_from(second, "adv-1")

    await notice.locator("[data-action=take-back]").click()
    await expect(second.locator(".call-notice[data-kind=taken-over]")).to_be_visible(timeout=WAIT_MS)
    await expect(first.locator(".call-view")).to_be_visible()
    await first.wait_for_function("() => window.rtPage.interview.interview?.participants.size === 1",
                                  timeout=WAIT_MS)
    before = await frames_from(advisor, "js-1")
    await frames_from(advisor, "js-1", above=before + 10)


# -- on a phone -----------------------------------------------------------------------------------

async def test_on_a_phone_leave_is_apart_and_asks_first(browser_session: BrowserSession, node: Harness) -> None:
    advisor, jobseeker = await pages(browser_session, node, viewport=PHONE)
    await answered(advisor, jobseeker)
    assert await jobseeker.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    leave = jobseeker.locator("[data-action=leave]")
    audio_only = await jobseeker.locator("[data-action=audio-only]").bounding_box()
    leave_box = await leave.bounding_box()
    assert audio_only and leave_box
    assert leave_box["y"] >= audio_only["y"] + audio_only["height"] + 8  # a row of its own, a gap above
    remote = await jobseeker.locator("figure.remote").bounding_box()
    assert remote and remote["width"] >= PHONE["width"] * 0.9
    assert await axe_violations(jobseeker) == []
    await shot(jobseeker, "call-phone")

    await leave.click()
    confirm = jobseeker.locator(".leave-confirm")
    await expect(confirm).to_be_visible()
    await expect(confirm.locator("[data-action=leave-no]")).to_be_focused()
    await confirm.locator("[data-action=leave-no]").click()
    await expect(confirm).to_be_hidden()
    assert await jobseeker.evaluate("() => window.rtPage.interview.active")
    await leave.click()
    await confirm.locator("[data-action=leave-yes]").click()
    await expect(jobseeker.locator(".call-view")).to_have_count(0, timeout=WAIT_MS)
    await expect(advisor.locator(".call-status")).to_have_text("Karim Benali a quitté l'entretien", timeout=WAIT_MS)
