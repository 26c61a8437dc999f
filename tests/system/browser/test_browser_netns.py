"""Chromium inside a network namespace (tests/browser_netns.py): the pre-call check page from inside
it reaches a node on the other side of the veth and gets its verdict, and an interview between a
jobseeker page inside the namespace and an advisor page in the root namespace carries video both
ways. The base the impaired-network browser tests build on."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from test_browser_interview import ROOM, received_from
from test_browser_precall import CHECK_DONE, CHECK_MS, WAIT_MS, codes

if TYPE_CHECKING:  # imported by pytest as a plugin (below), so that its asserts are rewritten
    from browser_netns import NetnsBrowsers

pytest_plugins = ["browser_netns"]  # its fixtures: two_hosts, netns_node, netns_browsers
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(90)]


async def test_check_page_in_the_namespace_is_ready_on_a_clean_link(netns_browsers: NetnsBrowsers) -> None:
    node = netns_browsers.node
    page = await netns_browsers.jobseeker.open_signed_in("check", "/static/check.html?lang=en",
                                                        node.token("js-ns", name="Karim"))
    await page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=WAIT_MS)
    await page.click("#run")
    await page.wait_for_function(CHECK_DONE, timeout=CHECK_MS)
    result = await page.evaluate("() => window.rtPage.result")
    assert result is not None, await page.locator("#step").text_content()
    network = result["measurements"]["network"]
    # The browser really is on the far side of the veth: its media came from the namespace's address.
    assert network["connected"] and network["transport"] == "udp", network
    assert result["verdict"] == "ready", (result["verdict"], codes(result), network)
    user_agent = await page.evaluate("() => navigator.userAgent")
    assert "HeadlessChrome" in user_agent or "Chrome" in user_agent


async def test_interview_from_the_namespace_carries_video_both_ways(netns_browsers: NetnsBrowsers) -> None:
    node = netns_browsers.node
    await node.room(ROOM, {"adv": "member", "js": "member"}, kind="conversation")
    adv = await netns_browsers.advisor.open("advisor", "/static/interview.html", user="adv", role="advisor",
                                            room=ROOM, lang="en")
    js = await netns_browsers.jobseeker.open("jobseeker", "/static/interview.html", user="js", room=ROOM, lang="en")
    first = await received_from(js, "adv", timeout_ms=20_000)
    await received_from(adv, "js", timeout_ms=20_000)
    later = await received_from(js, "adv", frames_above=first["video"]["framesDecoded"] + 30)
    assert later["video"]["frameWidth"] > 0
    back = await received_from(adv, "js", frames_above=30)
    assert back["video"]["frameWidth"] > 0
    # The jobseeker's media leaves from the namespace's address, across the veth.
    local = await js.evaluate(LOCAL_ADDRESS)
    assert local == netns_browsers.net.client_ip, local


# The local address of the publish connection's selected candidate pair (Chromium's statistics).
LOCAL_ADDRESS = """async () => {
  const report = await window.interviewPage.interview.publishPc.getStats();
  let pair = null;
  report.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId);
  });
  return pair ? report.get(pair.localCandidateId).address : null;
}"""
