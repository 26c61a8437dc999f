"""Video interviews in real browsers: two Chromium pages (interview.html + rtclient.js) through a node.

Each page publishes Chromium's fake camera and microphone; what each receives is read from the
browser's own WebRTC statistics (frames decoded, audio samples received), attributed to the
sender by the subscribe connection's section map. Every wait is a bounded ``wait_for_function``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from conftest import Harness
from playwright.async_api import Page

if TYPE_CHECKING:  # imported by pytest as a plugin (below), so that its asserts are rewritten
    from browser_support import BrowserSession

pytest_plugins = ["browser_support"]  # its fixtures: browser, node, browser_session
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(60)]

ROOM = "iv"
WAIT_MS = 10_000

# wait_for_function polls a synchronous predicate, and getStats() is asynchronous: the page keeps
# a copy of its latest received statistics, refreshed every 100 ms, for the predicate to read.
SAMPLE_STATS = """() => {
  if (window.receivedNow) return;
  window.receivedNow = {};
  setInterval(async () => {
    const interview = window.interviewPage && window.interviewPage.interview;
    if (interview) window.receivedNow = await interview.receivedStats();
  }, 100);
}"""
RECEIVED = """([user, frames, samples]) => {
  const got = window.receivedNow[user];
  return got && got.video && got.audio && got.video.framesDecoded > frames
    && got.audio.totalSamplesReceived > samples ? got : false;
}"""


async def received_from(page: Page, user: str, *, frames_above: int = 0, samples_above: int = 0,
                        timeout_ms: int = WAIT_MS) -> dict[str, Any]:
    """Wait until ``page`` decoded more than ``frames_above`` video frames and received audio from ``user``."""
    await page.evaluate(SAMPLE_STATS)
    handle = await page.wait_for_function(RECEIVED, arg=[user, frames_above, samples_above], polling=100,
                                          timeout=timeout_ms)
    return await handle.json_value()


async def open_interview(session: BrowserSession, harness: Harness) -> tuple[Page, Page]:
    await harness.room(ROOM, {"adv": "member", "js": "member"}, kind="conversation")
    adv = await session.open("advisor", "/static/interview.html", user="adv", role="advisor", room=ROOM, lang="en")
    js = await session.open("jobseeker", "/static/interview.html", user="js", room=ROOM, lang="en")
    return adv, js


async def test_advisor_and_jobseeker_see_and_hear_each_other(browser_session: BrowserSession, node: Harness) -> None:
    adv, js = await open_interview(browser_session, node)
    first = await received_from(js, "adv")
    await received_from(adv, "js")
    later = await received_from(js, "adv", frames_above=first["video"]["framesDecoded"] + 10,
                                samples_above=first["audio"]["totalSamplesReceived"])
    assert later["video"]["frameWidth"] > 0
    assert later["audio"]["packetsReceived"] > first["audio"]["packetsReceived"]


def audio_from(page: Page, user: str, samples_above: int) -> Any:
    return page.wait_for_function(
        "([user, samples]) => { const a = (window.receivedNow[user] || {}).audio;"
        " return a && a.totalSamplesReceived > samples ? a : false; }",
        arg=[user, samples_above], polling=100, timeout=WAIT_MS)


async def test_camera_off_and_on_again(browser_session: BrowserSession, node: Harness) -> None:
    adv, js = await open_interview(browser_session, node)
    before = await received_from(js, "adv", frames_above=5)

    await adv.evaluate("() => window.interviewPage.interview.setCamera(false)")
    # The jobseeker's page is told the advisor publishes audio only, and shows no video tile.
    await js.wait_for_function(
        "() => document.querySelector('figure[data-user=\"adv\"]').classList.contains('camera-off')",
        timeout=WAIT_MS)
    kinds = await js.evaluate("() => window.interviewPage.interview.participants.get('adv').tracks.map(t => t.kind)")
    assert kinds == ["audio"]
    camera = await adv.evaluate("""() => {
      const iv = window.interviewPage.interview;
      return {tracks: iv.localStream.getVideoTracks().length, sending: iv.publishPc.getSenders()
        .filter(s => s.track && s.track.kind === 'video').length};
    }""")
    assert camera == {"tracks": 0, "sending": 0}  # the camera is released, not just hidden
    samples = before["audio"]["totalSamplesReceived"]
    await audio_from(js, "adv", samples + 48_000)  # a second of the advisor's audio meanwhile
    await received_from(adv, "js", frames_above=(await received_from(adv, "js"))["video"]["framesDecoded"] + 10)

    await adv.evaluate("() => window.interviewPage.interview.setCamera(true)")
    await received_from(js, "adv", frames_above=before["video"]["framesDecoded"] + 10)
    await js.wait_for_function(
        "() => !document.querySelector('figure[data-user=\"adv\"]').classList.contains('camera-off')",
        timeout=WAIT_MS)


@pytest.mark.parametrize("same_connection", [False, True], ids=["fresh-connection", "browser-restartIce"])
async def test_ice_restart_of_the_publish_connection_keeps_the_interview_going(
        browser_session: BrowserSession, node: Harness, same_connection: bool) -> None:
    adv, js = await open_interview(browser_session, node)
    before = await received_from(js, "adv", frames_above=5)
    server_pc = node.media.rooms[ROOM].participants["adv"].publisher.pc
    fingerprints = """async () => {
      const report = await window.interviewPage.interview.publishPc.getStats();
      const out = [];
      report.forEach(s => { if (s.type === 'certificate') out.push(s.fingerprint); });
      return out.sort();
    }"""
    certificates = await adv.evaluate(fingerprints)

    await adv.evaluate("(same) => window.interviewPage.interview.restartIce({sameConnection: same})", same_connection)
    await adv.wait_for_function("() => window.interviewPage.interview.publishPc.connectionState === 'connected'",
                                timeout=WAIT_MS)
    after = await received_from(js, "adv", frames_above=before["video"]["framesDecoded"] + 20,
                                samples_above=before["audio"]["totalSamplesReceived"] + 48_000)
    assert after["video"]["framesDecoded"] > before["video"]["framesDecoded"] + 20
    # The node replaced its connection (aiortc cannot restart ICE in place): a new DTLS session,
    # whose new certificate the browser accepted, on the same RTCPeerConnection or a new one.
    new_server_pc = node.media.rooms[ROOM].participants["adv"].publisher.pc
    assert new_server_pc is not server_pc and new_server_pc.connectionState == "connected"
    renewed = await adv.evaluate(fingerprints)
    assert len(set(renewed) - set(certificates)) >= 1
    await received_from(adv, "js")  # the other direction was never touched


CHAT_LOG = """(room) => {
  const client = window.interviewPage.client;
  window.chatLog = [];
  client.on('message', (m) => { if (m.room === room) window.chatLog.push([m.offset, m.from, m.text]); });
  return client.join(room).then((joined) => joined.head);
}"""


def chat_has(page: Page, count: int) -> Any:
    return page.wait_for_function("(n) => window.chatLog.length >= n", arg=count, timeout=WAIT_MS)


async def send(page: Page, text: str) -> dict[str, Any]:
    return await page.evaluate("([room, text]) => window.interviewPage.client.send(room, text)", [ROOM, text])


async def test_chat_resumes_after_a_lost_connection_with_every_message_once(
        browser_session: BrowserSession, node: Harness) -> None:
    adv, js = await open_interview(browser_session, node)
    for page in (adv, js):
        await page.wait_for_function("() => window.interviewPage.client.state === 'open'", timeout=WAIT_MS)
        assert await page.evaluate(CHAT_LOG, ROOM) == 0
    await send(adv, "Bonjour")
    await chat_has(js, 1)

    # The jobseeker's WebSocket drops and stays down until the gate opens.
    await js.evaluate("""() => {
      window.gate = new Promise((resolve) => { window.openGate = resolve; });
      window.interviewPage.client.dropConnection({until: window.gate});
    }""")
    await js.wait_for_function("() => window.interviewPage.client.state === 'reconnecting'", timeout=WAIT_MS)
    for text in ("un", "deux", "trois"):
        await send(adv, text)
    # Sent while offline: held, then sent once the connection is back.
    await js.evaluate("() => { window.offlineAck = window.interviewPage.client.send('iv', 'hors ligne'); }")
    await js.evaluate("() => window.openGate()")
    await js.wait_for_function("() => window.interviewPage.client.reconnects === 1", timeout=WAIT_MS)
    ack = await js.evaluate("() => window.offlineAck")
    assert ack["type"] == "ack" and ack["offset"] == 5 and not ack.get("duplicate")

    await chat_has(js, 5)
    await chat_has(adv, 5)
    log = await js.evaluate("() => window.chatLog")
    assert [(offset, text) for offset, _, text in log] == [
        (1, "Bonjour"), (2, "un"), (3, "deux"), (4, "trois"), (5, "hors ligne")]
    assert await adv.evaluate("() => window.chatLog.map(m => m[2])") == [
        "Bonjour", "un", "deux", "trois", "hors ligne"]
    # The interview went on over the new WebSocket: media_join resumed the participant there.
    session = await js.evaluate("() => window.interviewPage.client.hello.session")
    await js.wait_for_function("() => window.interviewPage.interview.joined.resumed === true", timeout=WAIT_MS)
    participant = node.media.rooms[ROOM].participants["js"]
    assert participant.conn is not None and participant.conn.id == session
    before = await received_from(adv, "js")
    await received_from(adv, "js", frames_above=before["video"]["framesDecoded"] + 10)
    assert len(await js.evaluate("() => window.chatLog")) == 5  # nothing came twice meanwhile


SDK_CLIENT = """async ([tokens, options]) => {
  const { RtClient } = await import('/static/rtclient.js');
  window.tokensGiven = 0;
  window.sdk = new RtClient({ token: () => tokens[Math.min(window.tokensGiven++, tokens.length - 1)], ...options });
  try {
    return { hello: await window.sdk.connect() };
  } catch (error) {
    return { error: error.name, code: error.code, state: window.sdk.state };
  }
}"""


async def test_a_refused_token_stops_the_client_and_the_page_says_so(
        browser_session: BrowserSession, node: Harness) -> None:
    page = await browser_session.open("forged", "/static/interview.html", user="js", lang="en")  # no room
    assert await page.text_content("#status") == "Incomplete link: no interview given."
    forged = node.token("js")[:-4] + "AAAA"
    result = await page.evaluate(SDK_CLIENT, [[forged], {}])
    assert result == {"error": "ServerError", "code": "unauthorized", "state": "closed"}
    assert await page.evaluate("() => window.tokensGiven") == 1  # not retried with the same token


async def test_the_token_is_refreshed_before_it_expires(browser_session: BrowserSession, node: Harness) -> None:
    page = await browser_session.open("refresh", "/static/interview.html", user="js", lang="en")
    # `expires` in hello includes the server's clock-skew leeway (30 s): a token that expired
    # 23 s ago ends the session in about 7 s, so the client refreshes it in about 5 s.
    tokens = [node.token("js", ttl_s=-23), node.token("js", ttl_s=600)]
    result = await page.evaluate(SDK_CLIENT, [tokens, {"refreshBeforeMs": 2000}])
    first_expiry = result["hello"]["expires"]
    await page.evaluate("() => { window.sdk.on('token_refreshed', (e) => { window.refreshedUntil = e.expires; }); }")
    refreshed = await page.wait_for_function("() => window.refreshedUntil", timeout=WAIT_MS)
    assert await page.evaluate("() => window.tokensGiven") == 2
    (conn,) = node.node.connections
    assert conn.identity.expires_at == await refreshed.json_value() > first_expiry + 500
    assert await page.evaluate("() => [window.sdk.reconnects, window.sdk.state]") == [0, "open"]
