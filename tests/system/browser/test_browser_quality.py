"""Interviews that see both directions and degrade to sound: two real Chromium pages through a node.

What each page receives is measured by the SDK from the browser's own statistics (the
``media_report`` figures, the ``report`` event); the node's ``media_link`` and ``media_fallback``
(docs/protocol.md) are sent by the node itself, on the same path its room uses for every media
event (``Participant.post``), with the contract's fields. A real frame-rate cap on the advisor's
encoder gives the jobseeker a picture of a few frames per second, which his indicator must call
poor.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import pytest
from conftest import Harness
from playwright.async_api import Page, expect

if TYPE_CHECKING:  # imported by pytest as a plugin (below), so that its asserts are rewritten
    from browser_support import BrowserSession

pytest_plugins = ["browser_support"]  # its fixtures: browser, node, browser_session
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.usefixtures("node_events_only_from_the_test"),
              pytest.mark.timeout(90)]

ROOM = "iv"
WAIT_MS = 15_000

# The SDK's latest report, kept by the page for the synchronous wait_for_function predicates.
KEEP_REPORTS = """() => {
  if (window.reports) return;
  window.reports = [];
  const interview = (window.interviewPage || {}).interview || window.rtPage.interview.interview;
  interview.on('report', ({report}) => window.reports.push(report));
}"""


async def reported(page: Page, user: str, kind: str, test: str, timeout_ms: int = WAIT_MS) -> dict[str, Any]:
    """Wait for a report of ``page`` whose (``user``, ``kind``) entry ``e`` (and ``send``) pass ``test``."""
    await page.evaluate(KEEP_REPORTS)
    # The predicate is written out here: the pages' CSP refuses `new Function` in the page.
    predicate = f"""() => {{
      const last = window.reports.at(-1);
      const e = last && last.receive.find(x => x.user === {json.dumps(user)} && x.kind === {json.dumps(kind)});
      const send = last && last.send;
      return e && ({test}) ? last : false;
    }}"""
    handle = await page.wait_for_function(predicate, polling=200, timeout=timeout_ms)
    return await handle.json_value()




async def frames_from(page: Page, user: str) -> int:
    stats = await page.evaluate("(user) => window.interviewPage.interview.receivedStats()"
                                ".then(s => s[user] || {})", user)
    return int(stats.get("video", {}).get("framesDecoded", 0))


async def open_interview(session: BrowserSession, harness: Harness) -> tuple[Page, Page]:
    await harness.room(ROOM, {"adv": "member", "js": "member"}, kind="conversation")
    adv = await session.open("advisor", "/static/interview.html", user="adv", role="advisor", room=ROOM, lang="en")
    js = await session.open("jobseeker", "/static/interview.html", user="js", room=ROOM, lang="en")
    return adv, js


async def test_each_page_reports_what_it_receives_and_a_low_frame_rate_shows(
        browser_session: BrowserSession, node: Harness) -> None:
    adv, js = await open_interview(browser_session, node)
    # Chromium's fake camera, on loopback: a full frame rate, no loss, video and audio received.
    first = await reported(js, "adv", "video", "e.fps >= 15 && e.kbps > 50 && e.loss < 0.02")
    assert first["send"]["video"] is True and first["send"]["limited"] in ("none", "bandwidth", "cpu", "other")
    assert first["send"]["kbps"] > 50
    await reported(js, "adv", "audio", "e.loss < 0.02 && e.kbps > 5 && !('fps' in e)")
    await reported(adv, "js", "video", "e.fps >= 15")

    # The advisor's encoder capped at 3 frames per second: the jobseeker's report says so.
    await adv.evaluate("""async () => {
      const senders = window.interviewPage.interview.publishPc.getSenders();
      const sender = senders.find(s => s.track && s.track.kind === 'video');
      const params = sender.getParameters();
      params.encodings[0].maxFramerate = 3;
      await sender.setParameters(params);
    }""")
    low = await reported(js, "adv", "video", "e.fps < 6")
    # The node asked for reports every 2 s and receives them as the page measured them.
    assert await js.evaluate("() => window.interviewPage.interview.joined.report_every_ms") == 2000
    assert {e["user"] for e in low["receive"]} == {"adv"}

    def node_has_low_report() -> bool:
        report = node.media.links[ROOM]._links["js"].report
        video = [e for e in (report.receive if report else ()) if (e.user, e.kind) == ("adv", "video")]
        return bool(video) and video[0].fps is not None and video[0].fps < 6

    for _ in range(100):  # the page sent it before telling itself: at most a few ms behind, 5 s bound
        if node_has_low_report():
            break
        await asyncio.sleep(0.05)
    assert node_has_low_report()


async def test_a_paused_uplink_stops_the_camera_video_keeps_the_sound_and_comes_back(
        browser_session: BrowserSession, node: Harness) -> None:
    adv, js = await open_interview(browser_session, node)
    await reported(adv, "js", "video", "e.fps >= 15")

    node.media_broadcast(ROOM, {"type": "media_fallback", "user": "js", "direction": "send", "video": False,
                      "reason": "low_bandwidth"})
    # The jobseeker's page stops encoding its camera, keeps the track for its preview, and says why.
    await js.wait_for_function("""() => {
      const iv = window.interviewPage.interview;
      const sender = iv.publishPc.getSenders().find(s => s.track && s.track.kind === 'video');
      return iv.sendPaused && sender && sender.getParameters().encodings[0].active === false
        && iv.localStream.getVideoTracks()[0].readyState === 'live';
    }""", timeout=WAIT_MS)
    await expect(js.locator("#status")).to_contain_text("Your connection is too weak for video", timeout=WAIT_MS)
    await expect(js.locator("#local-tile .tile-note")).to_have_text("Your video is paused: you are heard, not seen.")
    # The advisor is told, and the jobseeker's tile shows "sound only" instead of a frozen picture.
    await expect(adv.locator("#status")).to_contain_text("connection is too weak for video: their video is paused")
    await expect(adv.locator("figure[data-user='js']")).to_have_class("video-paused")
    await expect(adv.locator("figure[data-user='js'] .tile-note")).to_be_visible()
    # No frame reaches the advisor any more; the sound does, and the report says so.
    await reported(js, "adv", "video", "send.video === false && send.limited === 'none'")
    await reported(adv, "js", "audio", "e.kbps > 5")
    paused_at = await frames_from(adv, "js")
    await reported(adv, "js", "audio", "e.kbps > 5")  # a whole window later
    assert await frames_from(adv, "js") - paused_at <= 2  # at most a frame already on its way

    node.media_broadcast(ROOM, {"type": "media_fallback", "user": "js", "direction": "send", "video": True,
                      "reason": "recovered"})
    await reported(adv, "js", "video", "e.fps >= 10")
    await expect(js.locator("#status")).to_have_text("Your connection is better: the others see you again.")
    await expect(adv.locator("figure[data-user='js']")).not_to_have_class("video-paused")
    await expect(js.locator("#local-tile .tile-note")).to_be_hidden()


async def test_an_automatic_resume_does_not_turn_on_a_camera_the_person_turned_off(
        browser_session: BrowserSession, node: Harness) -> None:
    adv, js = await open_interview(browser_session, node)
    await reported(adv, "js", "video", "e.fps >= 15")
    node.media_broadcast(ROOM, {"type": "media_fallback", "user": "js", "direction": "send", "video": False,
                      "reason": "low_framerate"})
    await js.wait_for_function("() => window.interviewPage.interview.sendPaused", timeout=WAIT_MS)
    await js.click("#camera")  # the jobseeker turns his camera off meanwhile
    await js.wait_for_function("() => !window.interviewPage.interview.camera", timeout=WAIT_MS)

    node.media_broadcast(ROOM, {"type": "media_fallback", "user": "js", "direction": "send", "video": True,
                      "reason": "recovered"})
    await expect(js.locator("#status")).to_have_text("Your connection is better: the others see you again.",
                                                     timeout=WAIT_MS)
    state = await js.evaluate("""() => {
      const iv = window.interviewPage.interview;
      return {camera: iv.camera, sending: iv.sendingVideo, tracks: iv.localStream.getVideoTracks().length};
    }""")
    assert state == {"camera": False, "sending": False, "tracks": 0}
    await reported(js, "adv", "audio", "send.video === false")

    # Turned on again while the node pauses it: the preview comes back, nothing is sent until resumed.
    node.media_broadcast(ROOM, {"type": "media_fallback", "user": "js", "direction": "send", "video": False,
                      "reason": "low_framerate"})
    await js.wait_for_function("() => window.interviewPage.interview.sendPaused", timeout=WAIT_MS)
    await js.click("#camera")
    await js.wait_for_function("""() => {
      const iv = window.interviewPage.interview;
      const sender = iv.publishPc.getSenders().find(s => s.track && s.track.kind === 'video');
      return iv.camera && sender && sender.getParameters().encodings[0].active === false;
    }""", timeout=WAIT_MS)
    node.media_broadcast(ROOM, {"type": "media_fallback", "user": "js", "direction": "send", "video": True,
                      "reason": "recovered"})
    await reported(adv, "js", "video", "e.fps >= 10")
