"""The pre-call check in real Chromium (static/check.html, static/rtprecall.js) against a node.

- With Chromium's fake camera and microphone the check gets its verdict from the node and the
  result is stored (read back through the HTTP API and ``precall_results``).
- With the camera refused by the browser, the verdict is ``not-ready`` with ``camera_denied``.
- A jobseeker runs it from the jobseeker page (the check in its frame) and the advisor console
  shows the verdict live.

Screenshots and console logs go to ``test-artifacts/`` (browser_support). Every wait is bounded.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio
from conftest import Harness
from playwright.async_api import Browser, Page, expect
from repo_paths import ARTIFACTS
from test_browser_pages import axe_violations

if TYPE_CHECKING:  # imported by pytest as a plugin (below), so that its asserts are rewritten
    from browser_support import BrowserSession

pytest_plugins = ["browser_support"]  # its fixtures: browser, node, browser_session
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(90)]

WAIT_MS = 10_000
# The check promises to finish within 15 s; the wait allows for a loaded test machine.
CHECK_MS = 25_000
CHECK_DONE = "() => document.body.dataset.verdict !== undefined && document.body.dataset.checking === undefined"


async def open_signed_in(session: BrowserSession, label: str, path: str, token: str) -> Page:
    """Open a page of the node signed in (token in sessionStorage, as a portal would), once ready."""
    page = await session.open_signed_in(label, path, token)
    await page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=WAIT_MS)
    return page


async def run_check(page: Page) -> dict[str, Any]:
    """Click the page's start button, wait for the verdict, return the node's result."""
    await page.click("#run")
    await page.wait_for_function(CHECK_DONE, timeout=CHECK_MS)
    result = await page.evaluate("() => window.rtPage.result")
    assert result is not None, (await page.locator("#step").text_content(),
                                await page.evaluate("() => window.rtPage.measurements"))
    return result


def codes(result: dict[str, Any], *severities: str) -> list[str]:
    return [f["code"] for f in result["findings"] if not severities or f["severity"] in severities]


async def test_fake_devices_get_ready_and_the_result_is_stored(browser_session: BrowserSession,
                                                               node: Harness) -> None:
    page = await open_signed_in(browser_session, "check", "/static/check.html?lang=en",
                                node.token("js-1", name="Karim"))
    await expect(page.locator("#page-title")).to_have_text("Test your equipment")
    result = await run_check(page)
    m = result["measurements"]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "precall-fake-devices-result.json").write_text(json.dumps(result, indent=1) + "\n")

    # What Chromium's fake devices give: a 640x480 picture at about 30 frames a second, and a
    # beep every second, so the microphone is never silent over the three seconds measured.
    assert (m["camera"]["permission"], m["camera"]["error"], m["camera"]["width"], m["camera"]["height"]) == \
        ("granted", None, 640, 480), m["camera"]
    assert 20 <= m["camera"]["fps"] <= 31, m["camera"]
    assert m["microphone"]["permission"] == "granted" and m["microphone"]["silent"] is False, m["microphone"]
    # Loopback on 127.0.0.1: direct UDP, no loss, a round trip of a few milliseconds, media both ways.
    net = m["network"]
    assert net["connected"] and net["transport"] == "udp", net
    assert net["loss_pct"] < 1 and net["rtt_ms"] is not None and net["rtt_ms"] < 50, net
    assert net["send_kbps"] > 100 and net["recv_kbps"] > 100, net
    # The capacity probe: the synthetic 1280x720 noise lets Chrome's encoder send far more than the
    # best tier needs, on a link it does not fill; each direction's loss apart.
    assert net["capacity_up_kbps"] >= 1000 and net["capacity_down_kbps"] >= 1000, net
    assert net["probe"]["saturated_up"] is False and net["probe"]["steps"], net
    assert net["loss_up_pct"] < 1 and net["loss_down_pct"] < 1, net
    assert m["browser"]["secure_context"] is True
    assert m["transports"] == {"udp": True, "turn-udp": None, "turn-tcp": None, "turn-tls": None,
                               "turn_configured": False}
    assert m["duration_ms"] <= 15_000, m["duration_ms"]
    # Nothing for anyone to fix on this machine: `ready`, and only informational findings.
    assert result["verdict"] == "ready", result["findings"]
    assert (result["mode"], result["video"]) == ("video", "720p")
    assert codes(result, "warning", "blocking") == []

    # The page says it in words, and the camera is released once the check is over.
    await expect(page.locator("#verdict .verdict-word")).to_have_text("Equipment test: ready")
    await expect(page.locator("#verdict .mode-message")).to_have_text("Your connection can carry the video interview.")
    await expect(page.locator("#verdict")).to_be_visible()
    await expect(page.locator("#fallbacks")).to_be_hidden()
    assert await page.evaluate("() => document.querySelector('#preview').srcObject === null")

    # Stored for the user: the portal's HTTP API and the user's own request read it back.
    status, data = await node.api("GET", "/api/users/js-1/precall")
    assert status == 200 and data["results"][0]["ts"] == result["ts"], data
    assert data["results"][0]["verdict"] == "ready"
    mine = await page.evaluate("() => window.rtPage.client.request('precall_results')")
    assert [r["ts"] for r in mine["results"]][:1] == [result["ts"]]

    # Run again: a second result, newest first.
    await page.click("#again")
    await page.wait_for_function(CHECK_DONE + " && window.rtPage.result.ts !== " + str(result["ts"]), timeout=CHECK_MS)
    status, data = await node.api("GET", "/api/users/js-1/precall")
    assert status == 200 and len(data["results"]) == 2, data


@pytest_asyncio.fixture(loop_scope="module")
async def camera_refused(browser: Browser, node: Harness, request: pytest.FixtureRequest
                         ) -> AsyncIterator[BrowserSession]:
    """A browser in which the camera is refused, as when a person answers "Block": Chromium
    without the fake prompt that accepts everything (it would override any refusal), prompts
    denied, and only the microphone allowed for the node's origin."""
    from browser_support import CHROMIUM, CHROMIUM_ARGS, BrowserSession  # the plugin, imported by then

    args = [a for a in CHROMIUM_ARGS if a != "--use-fake-ui-for-media-stream"] + ["--deny-permission-prompts"]
    refusing = await browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=args)
    context = await refusing.new_context(permissions=["microphone"], base_url=node.url("/"))
    session = await BrowserSession.start(context, node, request.node.name)
    try:
        yield session
        session.assert_no_csp_violation()
    finally:
        await session.save_artifacts()
        await refusing.close()


async def test_camera_refused_is_not_ready_with_camera_denied(camera_refused: BrowserSession,
                                                              node: Harness) -> None:
    page = await open_signed_in(camera_refused, "check-denied", "/static/check.html", node.token("js-2", name="Lea"))
    result = await run_check(page)
    m = result["measurements"]
    assert (m["camera"]["permission"], m["camera"]["error"]) == ("denied", "NotAllowedError"), m["camera"]
    assert m["microphone"]["permission"] == "granted", m["microphone"]
    assert result["verdict"] == "not-ready"
    assert "camera_denied" in codes(result, "blocking"), result["findings"]
    # The network was measured anyway, with a generated picture: the interview works with sound only.
    assert m["network"]["connected"], m["network"]
    assert (result["mode"], result["video"]) == ("audio", "audio-only")
    await expect(page.locator("#verdict")).to_have_attribute("data-mode", "audio")
    await expect(page.locator("#audio-only")).to_be_visible()

    # In French, with how to undo the refusal, and the fallbacks.
    denied = page.locator("#findings li[data-code='camera_denied']")
    await expect(denied).to_be_visible()
    assert (await denied.locator(".finding-remedy").text_content() or "").strip()
    await expect(page.locator("#verdict .verdict-word")).to_have_text("Test matériel : pas prêt")
    await expect(page.locator("#fallbacks")).to_be_visible()
    await page.click("#audio-only")
    await expect(page.locator("#audio-only-how")).to_contain_text("Rejoindre en audio seulement")

    # Accessible, and usable on a phone-sized screen, with all of that shown.
    await page.set_viewport_size({"width": 390, "height": 844})
    assert await axe_violations(page) == []
    assert await page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


async def test_jobseeker_runs_the_check_from_their_page_and_the_advisor_sees_it(
        browser_session: BrowserSession, node: Harness) -> None:
    await node.followup()

    advisor = await open_signed_in(browser_session, "advisor", "/static/advisor.html",
                                   node.token("adv-1", "advisor", name="Claire Martin"))
    row = advisor.locator("#portfolio button.row[data-jobseeker='js-1']")
    await expect(row.locator(".verdict")).to_have_attribute("data-verdict", "none", timeout=WAIT_MS)

    jobseeker = await open_signed_in(browser_session, "jobseeker", "/static/jobseeker.html",
                                     node.token("js-1", name="Karim Benali"))
    await jobseeker.click("#precall-open")
    frame_element = jobseeker.locator("#precall-frame iframe")
    await expect(frame_element).to_be_visible()
    frame = jobseeker.frame_locator("#precall-frame iframe")
    # Opened from the page's button, the check starts by itself in its frame.
    await expect(frame.locator("#verdict")).to_be_visible(timeout=CHECK_MS)
    verdict = await frame.locator("body").get_attribute("data-verdict")
    assert verdict == "ready", await frame.locator("#findings").inner_text()

    # The advisor's console shows it live, in words, without a reload.
    await expect(row.locator(".verdict")).to_have_attribute("data-verdict", "ready", timeout=WAIT_MS)
    await expect(row.locator(".verdict")).to_contain_text("Test matériel : prêt")
    await expect(row.locator(".mode")).to_have_attribute("data-mode", "video")
    await expect(row.locator(".mode")).to_contain_text("Entretien possible : en vidéo (720p)")
    # And after a reload, from the portfolio.
    await advisor.reload()
    await advisor.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=WAIT_MS)
    await expect(row.locator(".verdict")).to_have_attribute("data-verdict", "ready", timeout=WAIT_MS)
