"""The console and the jobseeker's page see both directions of an interview and tell a fallback.

Two Chromium pages, the advisor console (French) and the jobseeker's page (English), hold an
interview through a real node. A real frame-rate cap on the advisor's encoder gives the
jobseeker a jerky picture, which his indicator must call poor (it judged audio loss and round
trip only, and said "good"). The node's ``media_link`` and ``media_fallback`` (docs/protocol.md)
are sent by the node on its room's own path (``MediaRoom.broadcast``) with the contract's fields:
the advisor must read that the jobseeker receives her video badly (her indicator read only what
the node received from him), the jobseeker that his upload is weak, and both are told in plain
words when video pauses and when it comes back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from conftest import Harness
from playwright.async_api import Page, expect
from test_browser_pages import axe_violations, open_as

if TYPE_CHECKING:  # imported by pytest as a plugin (below), so that its asserts are rewritten
    from browser_support import BrowserSession

pytest_plugins = ["browser_support"]  # its fixtures: browser, node, browser_session
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.usefixtures("node_events_only_from_the_test"),
              pytest.mark.timeout(120)]

WAIT_MS = 15_000
GOOD = {"level": "good", "video": True, "reason": None}


async def start_interview(session: BrowserSession, node: Harness) -> tuple[Page, Page, str]:
    await node.followup()
    advisor = await open_as(session, "advisor", "/static/advisor.html",
                            node.token("adv-1", "advisor", name="Claire Martin"))
    jobseeker = await open_as(session, "jobseeker", "/static/jobseeker.html?lang=en",
                              node.token("js-1", name="Karim Benali"))
    await advisor.click("#portfolio button.row[data-jobseeker='js-1']")
    await advisor.click("#start-video")
    # The invitation is announced first (one live region: a later sentence replaces it).
    await expect(jobseeker.locator("#announce-polite")).to_contain_text("New message from Claire Martin",
                                                                        timeout=WAIT_MS)
    await jobseeker.click("#join-video")
    room = await jobseeker.evaluate("() => window.rtPage.interview.room")
    for page in (advisor, jobseeker):
        await page.wait_for_function("() => window.rtPage.interview.interview?.participants.size === 1",
                                     timeout=WAIT_MS)
    return advisor, jobseeker, room




def link(node: Harness, room: str, js: dict[str, Any] | None = None, adv: dict[str, Any] | None = None) -> None:
    entries = {"adv-1": {"receive": GOOD, "send": GOOD}, "js-1": {"receive": GOOD, "send": GOOD}}
    entries["js-1"].update(js or {})
    entries["adv-1"].update(adv or {})
    node.media_broadcast(room, {"type": "media_link", "links": [{"user": u, **e} for u, e in entries.items()]})


async def cap_advisor_frame_rate(advisor: Page, fps: float | None) -> None:
    await advisor.evaluate("""async (fps) => {
      const pc = window.rtPage.interview.interview.publishPc;
      const sender = pc.getSenders().find(s => s.track && s.track.kind === 'video');
      const params = sender.getParameters();
      if (fps === null) delete params.encodings[0].maxFramerate; else params.encodings[0].maxFramerate = fps;
      await sender.setParameters(params);
    }""", fps)


async def test_each_side_sees_what_it_receives_and_how_the_other_receives(
        browser_session: BrowserSession, node: Harness) -> None:
    advisor, jobseeker, room = await start_interview(browser_session, node)
    adv_quality = advisor.locator(".interview .quality")
    js_quality = jobseeker.locator(".interview .quality")
    await expect(adv_quality).to_have_attribute("data-level", "good", timeout=WAIT_MS)
    await expect(js_quality).to_have_attribute("data-level", "good", timeout=WAIT_MS)

    # The advisor's picture reaches the jobseeker at 3 frames per second: his page says so.
    await cap_advisor_frame_rate(advisor, 3)
    await expect(js_quality).to_have_attribute("data-level", "poor", timeout=WAIT_MS)
    await expect(js_quality).to_contain_text("You see or hear Claire Martin badly")
    await cap_advisor_frame_rate(advisor, None)
    await expect(js_quality).to_have_attribute("data-level", "good", timeout=WAIT_MS)

    # The node says the jobseeker receives badly: the advisor reads it, in French.
    link(node, room, js={"receive": {"level": "poor", "video": True, "reason": "low_framerate", "fps": 4.0,
                                     "loss": 0.01}})
    await expect(adv_quality).to_have_attribute("data-level", "poor", timeout=WAIT_MS)
    await expect(adv_quality).to_have_attribute("data-problem", "from_me_bad_their_link")
    await expect(adv_quality).to_contain_text("Karim Benali reçoit mal votre vidéo : sa connexion est faible")
    # and the jobseeker's upload is weak: he reads that his advisor cannot see him well.
    link(node, room, js={"send": {"level": "poor", "video": True, "reason": "low_bandwidth", "kbps": 90,
                                  "loss": 0.12}})
    await expect(js_quality).to_have_attribute("data-level", "poor", timeout=WAIT_MS)
    await expect(js_quality).to_contain_text("Claire Martin cannot see you well: your upload is weak")
    await expect(adv_quality).to_contain_text("Vous voyez ou entendez mal Karim Benali : sa connexion envoie trop peu")
    await expect(jobseeker.locator("#announce-polite")).to_contain_text("cannot see you well", timeout=WAIT_MS)

    link(node, room)
    for quality in (adv_quality, js_quality):
        await expect(quality).to_have_attribute("data-level", "good", timeout=WAIT_MS)
        await expect(quality.locator(".quality-problem")).to_have_count(0)


async def test_a_fallback_is_announced_on_both_pages_and_the_tile_shows_sound_only(
        browser_session: BrowserSession, node: Harness) -> None:
    advisor, jobseeker, room = await start_interview(browser_session, node)
    adv_tile = advisor.locator("figure.remote[data-user='js-1']")
    js_tile = jobseeker.locator("figure.remote[data-user='adv-1']")

    # The jobseeker's uplink cannot carry video.
    node.media_broadcast(room, {"type": "media_fallback", "user": "js-1", "direction": "send", "video": False,
                      "reason": "low_bandwidth"})
    link(node, room, js={"send": {"level": "poor", "video": False, "reason": "low_bandwidth", "kbps": 60}})
    await expect(jobseeker.locator("#announce-polite")).to_have_text(
        "Your connection is too weak for video: the interview continues with sound only. Claire Martin hears you"
        " but no longer sees you. Video will come back by itself when the connection improves.", timeout=WAIT_MS)
    await expect(advisor.locator("#announce-polite")).to_have_text(
        "La connexion de Karim Benali est trop faible pour la vidéo : sa vidéo est en pause et l'entretien continue"
        " avec le son seulement. Elle reviendra d'elle-même quand sa connexion s'améliorera.", timeout=WAIT_MS)
    await expect(adv_tile).to_have_class("tile remote video-paused")
    await expect(adv_tile.locator(".tile-note")).to_have_text(
        "Son seulement : la connexion est trop faible pour la vidéo. Elle reviendra d'elle-même.")
    assert await adv_tile.locator("video").evaluate("(v) => getComputedStyle(v).visibility") == "hidden"
    await expect(jobseeker.locator("figure.local .tile-note")).to_have_text(
        "Your video is paused: you are heard, not seen.")
    await expect(advisor.locator(".interview .quality")).to_have_attribute(
        "data-problem", "to_me_paused_their_upload", timeout=WAIT_MS)
    await expect(jobseeker.locator(".interview .quality")).to_contain_text(
        "Claire Martin no longer sees you but still hears you")
    await jobseeker.wait_for_function("() => window.rtPage.interview.interview.sendingVideo === false",
                                      timeout=WAIT_MS)

    # His downlink cannot either.
    node.media_broadcast(room, {"type": "media_fallback", "user": "js-1", "direction": "receive", "video": False,
                      "reason": "low_framerate"})
    await expect(jobseeker.locator("#announce-polite")).to_contain_text(
        "You hear Claire Martin but no longer see them.", timeout=WAIT_MS)
    await expect(advisor.locator("#announce-polite")).to_contain_text(
        "votre vidéo ne lui parvient plus, mais votre voix oui", timeout=WAIT_MS)
    await expect(js_tile).to_have_class("tile remote video-paused")
    # The pages stay accessible in this state.
    assert await axe_violations(advisor) == []
    assert await axe_violations(jobseeker) == []

    # Both come back.
    for direction in ("send", "receive"):
        node.media_broadcast(room, {"type": "media_fallback", "user": "js-1", "direction": direction, "video": True,
                          "reason": "recovered"})
    link(node, room)
    await expect(jobseeker.locator("#announce-polite")).to_have_text(
        "Your connection is better: you see Claire Martin again.", timeout=WAIT_MS)
    await expect(advisor.locator("#announce-polite")).to_have_text(
        "La connexion de Karim Benali s'est améliorée : votre vidéo lui parvient de nouveau.", timeout=WAIT_MS)
    await expect(adv_tile).to_have_class("tile remote")
    await expect(js_tile).to_have_class("tile remote")
    await expect(jobseeker.locator("figure.local .tile-note")).to_be_hidden()
    await jobseeker.wait_for_function("() => window.rtPage.interview.interview.sendingVideo === true",
                                      timeout=WAIT_MS)
