"""Interviews over real impaired links: the product's own pages in real Chromium, the node deciding.

The advisor's console (French, root namespace) starts the interview from her portfolio, the
jobseeker joins from his page (English) in a Chromium inside a network namespace whose link the
test caps (``tests/netns.py``, a tbf qdisc: a rate the link really has). Nothing is injected: the
SDK reports what Chromium decodes, the node judges each direction and falls back to audio, tells
both pages, and tries video again (docs/media.md, "Degrading to audio"). Then both leave, and the
portal API must hold the interview's outcome summary (docs/media.md, "Interview outcomes").

- A link capped at 700 kbit/s each way carries the interview in video: no fallback, frame rates
  above a floor both ways, neither indicator poor; its outcome is ``clean``. The pre-call check
  run from the jobseeker's Chromium on the same link gives a video verdict.
- The jobseeker's downlink capped at 100 kbit/s cannot carry the advisor's video: the node stops
  it (``media_fallback`` ``receive`` ``video:false``) within a bound, both pages say so, the tile
  shows sound only, the sound goes on both ways, and the console's indicator names the
  jobseeker's reception; once the cap is lifted, video comes back at the next trial, which holds. Outcome:
  ``degraded``, one fallback at least, one recovery at least.
- His uplink capped likewise: his page stops sending video when told (``send``), and it says his
  advisor does not see him well; back after the cap is lifted. On the Redis store.

The node's trial of video comes ``media_fallback_retry_s`` after a fallback: 5 s here instead of
10 (the test lifts the cap 1-3 s after the fallback, so the first trial finds the link restored),
``media_fallback_hold_s`` 4 s instead of 10; every judging floor and the 4 s a direction must stay
under them are the defaults.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from conftest import Harness
from playwright.async_api import Page, expect
from redis_server import RedisServer, redis_available
from repo_paths import ARTIFACTS
from test_browser_pages import open_as
from test_browser_precall import CHECK_DONE, CHECK_MS, codes

from rtserver.outcomes.api import OUTCOMES_KEY

if TYPE_CHECKING:  # imported by pytest as a plugin (below), so that its asserts are rewritten
    from browser_netns import NetnsBrowsers

pytest_plugins = ["browser_netns"]  # its fixtures: two_hosts, netns_node, netns_browsers
pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

ADVISOR, JOBSEEKER = "adv-1", "js-1"
ADVISOR_NAME, JOBSEEKER_NAME = "Claire Martin", "Karim Benali"
WAIT_MS = 15_000
VIDEO_MS = 25_000  # first frames through a namespace on a loaded 2-core machine
RETRY_S = 5.0
NODE_TIMINGS: dict[str, Any] = {"media_fallback_retry_s": RETRY_S, "media_fallback_hold_s": 4.0}
# A link that carries video at a reduced rate (a modest home or 3G+ line).
REDUCED_KBIT = 700
# A link that cannot carry video: the audio both ways takes 45-50 kbit/s of it.
THIN_KBIT = 100
# Bounds from the runs measured so far (test-artifacts/netns-fallback.jsonl, 6 runs of each): the
# fallback came 8.1-8.6 s after a downlink cap, 7.1-11.8 s after an uplink cap (the senders'
# congestion control drains the queue for 2-4 s, then the node's 4 s under the floors; one uplink
# run had none within 15 s); video came back 1.9-6.5 s after the lift (the trial at RETRY_S after
# the fallback, the test lifting the cap 2-3 s after it).
FALLBACK_WITHIN_S = 20.0
RECOVERY_WITHIN_S = RETRY_S + 10.0
# Frame rates the reduced link held over the hold window (decoded frames / seconds), measured
# 25-30 fps both ways; the floor is the node's own fallback floor with a margin (15: "fair").
REDUCED_MIN_FPS = 15.0
HOLD_REPORTS = 6  # 12 s of reports every 2 s; a fallback needs two bad ones in a row


@pytest.fixture
def store(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def netns_node_settings(store: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The node's settings: shortened trial timings, on SQLite (the default) or a real redis-server."""
    if store != "redis":
        yield dict(NODE_TIMINGS)
        return
    if not redis_available():
        pytest.skip("redis-server is not installed (scripts/test installs it)")
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield {**NODE_TIMINGS, "store": server.url}
    finally:
        server.kill()


# -- the pages ---------------------------------------------------------------------------------------

# Every media_fallback the page's client gets, and every level and problem its indicator shows, with the time;
# how many reports its SDK made (and sent the node); what the page receives from the other,
# sampled every 100 ms (getStats is asynchronous and wait_for_function polls a synchronous predicate).
RECORD = """() => {
  if (window.e2e) return;
  const e2e = window.e2e = {fallbacks: [], levels: [], received: {}, reports: 0};
  let lastReport = null;
  window.rtPage.client.on("media_fallback", (e) => e2e.fallbacks.push({...e, at: Date.now()}));
  setInterval(async () => {
    const view = window.rtPage.interview;
    const line = document.querySelector(".interview .quality");
    const last = e2e.levels.at(-1) || {};
    if (line && (line.dataset.level !== last.level || (line.dataset.problem || "") !== last.problem))
      e2e.levels.push({level: line.dataset.level, problem: line.dataset.problem || "", at: Date.now()});
    const sdk = view && view.interview;
    if (sdk && sdk.lastReport && sdk.lastReport !== lastReport) { lastReport = sdk.lastReport; e2e.reports += 1; }
    if (sdk) e2e.received = await sdk.receivedStats();
  }, 100);
}"""
# Frames decoded and audio samples received from ``user``, once over the given counts.
RECEIVED = """([user, frames, samples]) => {
  const got = window.e2e.received[user];
  return got && got.video && got.audio && got.video.framesDecoded > frames
    && got.audio.totalSamplesReceived > samples ? got : false;
}"""
AUDIO = """([user, samples]) => {
  const got = (window.e2e.received[user] || {}).audio;
  return got && got.totalSamplesReceived > samples ? got : false;
}"""
# The first media_fallback about (user, direction, video) after a time (ms since the epoch).
FALLBACK = """([user, direction, video, after]) => window.e2e.fallbacks.find(
  (e) => e.user === user && e.direction === direction && e.video === video && e.at >= after) || false"""


async def received(page: Page, user: str, *, frames_above: int = 0, samples_above: int = 0,
                   timeout_ms: int = WAIT_MS) -> dict[str, Any]:
    handle = await page.wait_for_function(RECEIVED, arg=[user, frames_above, samples_above], polling=100,
                                          timeout=timeout_ms)
    return dict(await handle.json_value())


async def audio_grows(page: Page, user: str) -> None:
    """Audio from ``user`` still arrives: more samples than now within a few seconds."""
    now = await page.evaluate("(user) => ((window.e2e.received[user] || {}).audio || {}).totalSamplesReceived || 0",
                              user)
    await page.wait_for_function(AUDIO, arg=[user, now + 48_000], polling=100, timeout=WAIT_MS)  # 1 s at 48 kHz


async def fallback(page: Page, user: str, direction: str, *, video: bool, after_ms: float,
                   timeout_s: float) -> dict[str, Any]:
    handle = await page.wait_for_function(FALLBACK, arg=[user, direction, video, after_ms], polling=100,
                                          timeout=timeout_s * 1000)
    return dict(await handle.json_value())


async def trial_held(node: Harness, direction: str, page: Page, user: str, since_ms: float) -> None:
    """The node kept video after its trial (``media_fallback_hold_s`` without a bad verdict), and
    stopped it no more since ``since_ms``."""
    counts = node.media.link_counts.recoveries
    deadline = time.monotonic() + NODE_TIMINGS["media_fallback_hold_s"] + 4.0 + 5.0  # + the trial's 4 s grace
    while counts[(direction, "held")] < 1:
        again = await page.evaluate(FALLBACK, [user, direction, False, since_ms])
        assert not again, f"video stopped again after the link was restored: {again}"
        assert time.monotonic() < deadline, f"the {direction} trial has not held: {dict(counts)}"
        await asyncio.sleep(0.1)


async def start_interview(net: NetnsBrowsers, cap_kbit: int | None = None) -> tuple[Page, Page, str]:
    """The advisor starts the interview from her console, the jobseeker joins from his page; both
    receive the other's video and sound. ``cap_kbit``: the link is capped each way once the pages
    are loaded (a qdisc added to the namespace's interface is a network change to Chromium, which
    fails the loads under way: net::ERR_NETWORK_CHANGED) and before the call starts."""
    node = net.node
    for user, body in {ADVISOR: {"name": ADVISOR_NAME, "role": "advisor", "volunteer": True},
                       JOBSEEKER: {"name": JOBSEEKER_NAME, "role": "jobseeker"}}.items():
        status, data = await node.api("PUT", f"/api/users/{user}", body)
        assert status == 200, data
    status, data = await node.api("POST", "/api/followups", {"jobseeker": JOBSEEKER, "advisor": ADVISOR})
    assert status == 201, data
    advisor = await open_as(net.advisor, "advisor", "/static/advisor.html",
                            node.token(ADVISOR, "advisor", name=ADVISOR_NAME))
    jobseeker = await open_as(net.jobseeker, "jobseeker", "/static/jobseeker.html?lang=en",
                              node.token(JOBSEEKER, name=JOBSEEKER_NAME))
    for page in (advisor, jobseeker):
        await page.evaluate(RECORD)
    if cap_kbit is not None:
        net.net.cap(down_kbit=cap_kbit, up_kbit=cap_kbit)
    await advisor.click(f"#portfolio button.row[data-jobseeker='{JOBSEEKER}']")
    await advisor.click("#start-video")
    await expect(jobseeker.locator("#announce-polite")).to_contain_text(f"New message from {ADVISOR_NAME}",
                                                                        timeout=WAIT_MS)
    await jobseeker.click("#join-video")
    room = str(await jobseeker.evaluate("() => window.rtPage.interview.room"))
    await received(jobseeker, ADVISOR, frames_above=10, timeout_ms=VIDEO_MS)
    await received(advisor, JOBSEEKER, frames_above=10, timeout_ms=VIDEO_MS)
    return advisor, jobseeker, room


async def leave(advisor: Page, jobseeker: Page) -> None:
    """The advisor ends the interview, then the jobseeker leaves too (his page stays in an empty call)."""
    for page in (advisor, jobseeker):
        await page.click(".interview [data-action=leave]")
        await expect(page.locator(".interview")).to_have_count(0, timeout=WAIT_MS)


async def outcome(node: Harness, room: str) -> dict[str, Any]:
    """The interview's summary as the portal API gives it, once its room closed and the record is stored."""
    deadline = time.monotonic() + WAIT_MS / 1000
    while room in node.media.rooms:  # the room closes once its last participant is removed
        assert time.monotonic() < deadline, f"interview {room} still open after both left"
        await asyncio.sleep(0.05)
    await node.app[OUTCOMES_KEY].flush()  # the record queued at the close is written
    status, data = await node.api("GET", f"/api/advisors/{ADVISOR}/interviews")
    assert status == 200, data
    records = [r for r in data["interviews"] if r["room"] == room]
    assert len(records) == 1, data
    status, totals = await node.api("GET", f"/api/interviews/outcomes?advisor={ADVISOR}")
    assert status == 200 and totals["total"] == 1, totals
    record = records[0]
    assert totals["counts"][record["outcome"]] == 1, totals
    return dict(record)


def note(name: str, **figures: Any) -> None:
    """Measured figures, printed (``-s``) and appended to test-artifacts/netns-fallback.jsonl to
    compare runs (the bounds above come from there)."""
    line = json.dumps({"test": name, **figures})
    print(line)
    artifacts = ARTIFACTS
    artifacts.mkdir(exist_ok=True)
    with (artifacts / "netns-fallback.jsonl").open("a") as out:
        out.write(line + "\n")


def frame_rate(before: dict[str, Any], after: dict[str, Any], seconds: float) -> float:
    return (after["video"]["framesDecoded"] - before["video"]["framesDecoded"]) / seconds


# -- the tests ---------------------------------------------------------------------------------------

async def test_a_reduced_rate_link_holds_video_both_ways_and_ends_clean(netns_browsers: NetnsBrowsers) -> None:
    advisor, jobseeker, room = await start_interview(netns_browsers, cap_kbit=REDUCED_KBIT)

    # The senders settle to the link (their congestion control), then a hold window: the node has
    # had HOLD_REPORTS reports from each page, a fallback needs two bad ones in a row.
    settle = {page: await received(page, other) for page, other in ((jobseeker, ADVISOR), (advisor, JOBSEEKER))}
    start = time.monotonic()
    for page in (jobseeker, advisor):
        reports = await page.evaluate("() => window.e2e.reports")
        await page.wait_for_function("(n) => window.e2e.reports >= n", arg=reports + HOLD_REPORTS,
                                     timeout=HOLD_REPORTS * 2000 * 2)
    elapsed = time.monotonic() - start
    rates = {}
    for page, other, side in ((jobseeker, ADVISOR, "jobseeker"), (advisor, JOBSEEKER, "advisor")):
        now = await received(page, other, frames_above=0)
        rates[side] = round(frame_rate(settle[page], now, elapsed), 1)
    levels = {side: await page.evaluate("() => window.e2e.levels")
              for side, page in (("jobseeker", jobseeker), ("advisor", advisor))}
    fallbacks = await jobseeker.evaluate("() => window.e2e.fallbacks") + await advisor.evaluate(
        "() => window.e2e.fallbacks")
    note("reduced", fps=rates, levels={s: [x["level"] for x in v] for s, v in levels.items()},
         fallbacks=len(fallbacks))
    assert fallbacks == [], fallbacks
    assert min(rates.values()) >= REDUCED_MIN_FPS, rates
    for side, shown in levels.items():
        assert shown and all(x["level"] != "poor" for x in shown), (side, shown)

    await leave(advisor, jobseeker)
    record = await outcome(netns_browsers.node, room)
    note("reduced-outcome", record=record)
    assert record["outcome"] == "clean" and record["problems"] == [] and record["ended_by"] == "normal", record
    assert record["fallbacks"] == record["recoveries"] == record["reconnections"] == 0, record
    assert record["audio_s"] == 0 and record["frozen_s"] < 5, record
    assert 0 <= record["connect_s"] < 10 and record["video_s"] >= HOLD_REPORTS * 2, record
    assert record["video_s"] + record["frozen_s"] <= record["duration_s"], record


async def test_a_downlink_too_thin_for_video_falls_back_to_audio_announced_and_recovers(
        netns_browsers: NetnsBrowsers) -> None:
    net = netns_browsers.net
    advisor, jobseeker, room = await start_interview(netns_browsers)
    js_tile = jobseeker.locator(f"figure.remote[data-user='{ADVISOR}']")
    adv_quality = advisor.locator(".interview .quality")

    capped_at = time.time() * 1000
    net.cap(down_kbit=THIN_KBIT)
    off = await fallback(jobseeker, JOBSEEKER, "receive", video=False, after_ms=capped_at,
                         timeout_s=FALLBACK_WITHIN_S)
    fallback_s = (off["at"] - capped_at) / 1000
    # Both pages say so in plain words; the jobseeker's tile shows sound only instead of a frozen picture.
    await expect(jobseeker.locator("#announce-polite")).to_contain_text(
        "Your connection is too weak for video: the interview continues with sound only. You hear"
        f" {ADVISOR_NAME} but no longer see them.", timeout=WAIT_MS)
    await expect(advisor.locator("#announce-polite")).to_contain_text(
        f"La connexion de {JOBSEEKER_NAME} est trop faible pour la vidéo : votre vidéo ne lui parvient plus,"
        " mais votre voix oui.", timeout=WAIT_MS)
    await expect(js_tile).to_have_class("tile remote video-paused")
    await expect(js_tile.locator(".tile-note")).to_have_text(
        "Sound only: the connection is too weak for video. It will come back by itself.")
    # The console's indicator names the jobseeker's reception, not what it receives itself.
    await expect(adv_quality).to_have_attribute("data-problem", "from_me_paused_their_link", timeout=WAIT_MS)
    await expect(adv_quality).to_contain_text(
        f"La connexion de {JOBSEEKER_NAME} est faible : votre vidéo ne lui parvient plus, mais votre voix oui")
    # The sound goes on both ways.
    await audio_grows(jobseeker, ADVISOR)
    await audio_grows(advisor, JOBSEEKER)
    # Nothing was blamed on the advisor: her uplink and her reception are fine.
    blamed = [e for e in await advisor.evaluate("() => window.e2e.fallbacks") if e["user"] != JOBSEEKER]
    assert blamed == [], blamed

    lifted_at = time.time() * 1000
    net.uncap()
    back = await fallback(jobseeker, JOBSEEKER, "receive", video=True, after_ms=off["at"],
                          timeout_s=RECOVERY_WITHIN_S)
    recovery_s = (back["at"] - lifted_at) / 1000
    await expect(jobseeker.locator("#announce-polite")).to_have_text(
        f"Your connection is better: you see {ADVISOR_NAME} again.", timeout=WAIT_MS)
    await expect(advisor.locator("#announce-polite")).to_have_text(
        f"La connexion de {JOBSEEKER_NAME} s'est améliorée : votre vidéo lui parvient de nouveau.", timeout=WAIT_MS)
    await expect(js_tile).to_have_class("tile remote", timeout=WAIT_MS)
    now = await received(jobseeker, ADVISOR)
    await received(jobseeker, ADVISOR, frames_above=now["video"]["framesDecoded"] + 30)
    # The trial then holds. It failed in 1 run of 4 on a loaded machine on the sound's last receiver
    # report, which still carried the thin period's loss (links.report_is_current), and in 2 of 8 on
    # the restart's keyframe stall counted as a freeze; with both fixed it held in 14 runs of 14,
    # 6 of them with two cores busy (docs/media.md, When video comes back).
    await trial_held(netns_browsers.node, "receive", jobseeker, JOBSEEKER, back["at"])
    events = await jobseeker.evaluate("() => window.e2e.fallbacks")
    note("downlink", fallback_s=round(fallback_s, 1), recovery_s=round(recovery_s, 1),
         off_to_back_s=round((back["at"] - off["at"]) / 1000, 1),
         events=[(e["user"], e["direction"], e["video"], e["reason"]) for e in events])

    await leave(advisor, jobseeker)
    record = await outcome(netns_browsers.node, room)
    note("downlink-outcome", record=record)
    assert record["outcome"] == "degraded" and "audio_fallback" in record["problems"], record
    assert record["ended_by"] == "normal" and record["participants"] == 2, record
    assert record["fallbacks"] >= 1 and record["recoveries"] >= 1, record
    # Audio only at least from the fallback to the trial (RETRY_S), and at most from the cap to the
    # return: the node's media_link may say video is off a few seconds before its media_fallback
    # (one run: fallback 15 s after the cap, 11 s of audio against 3.9 s from fallback to return).
    assert RETRY_S - 1 <= record["audio_s"] <= (back["at"] - capped_at) / 1000 + 5, record
    assert record["video_s"] >= 5 and record["video_s"] + record["audio_s"] + record["frozen_s"] \
        <= record["duration_s"], record


@pytest.mark.parametrize("store", ["redis"], indirect=True)
async def test_an_uplink_too_thin_for_video_stops_his_video_and_his_page_says_so(
        netns_browsers: NetnsBrowsers, store: str) -> None:
    net = netns_browsers.net
    advisor, jobseeker, room = await start_interview(netns_browsers)
    adv_tile = advisor.locator(f"figure.remote[data-user='{JOBSEEKER}']")
    js_quality = jobseeker.locator(".interview .quality")

    capped_at = time.time() * 1000
    net.cap(up_kbit=THIN_KBIT)
    off = await fallback(jobseeker, JOBSEEKER, "send", video=False, after_ms=capped_at, timeout_s=FALLBACK_WITHIN_S)
    fallback_s = (off["at"] - capped_at) / 1000
    # His page stops sending camera video (the preview stays) and tells him why.
    await jobseeker.wait_for_function("() => window.rtPage.interview.interview.sendingVideo === false",
                                      timeout=WAIT_MS)
    await expect(jobseeker.locator("#announce-polite")).to_contain_text(
        f"Your connection is too weak for video: the interview continues with sound only. {ADVISOR_NAME} hears"
        " you but no longer sees you.", timeout=WAIT_MS)
    await expect(advisor.locator("#announce-polite")).to_contain_text(
        f"La connexion de {JOBSEEKER_NAME} est trop faible pour la vidéo : sa vidéo est en pause", timeout=WAIT_MS)
    await expect(adv_tile).to_have_class("tile remote video-paused")
    # His indicator says his advisor does not see him (well): the trouble is his upload.
    await expect(js_quality).to_have_attribute("data-problem", "from_me_paused_your_upload", timeout=WAIT_MS)
    await expect(js_quality).to_contain_text(f"{ADVISOR_NAME} no longer sees you but still hears you")
    await audio_grows(advisor, JOBSEEKER)
    await audio_grows(jobseeker, ADVISOR)
    # Before the pause, while his picture was failing, his page had said so already.
    shown = await jobseeker.evaluate("() => window.e2e.levels")
    said_bad = [x for x in shown if x["problem"] in ("from_me_bad_your_upload", "from_me_paused_your_upload")]
    assert said_bad, shown

    lifted_at = time.time() * 1000
    net.uncap()
    back = await fallback(jobseeker, JOBSEEKER, "send", video=True, after_ms=off["at"], timeout_s=RECOVERY_WITHIN_S)
    recovery_s = (back["at"] - lifted_at) / 1000
    await jobseeker.wait_for_function("() => window.rtPage.interview.interview.sendingVideo === true",
                                      timeout=WAIT_MS)
    await expect(jobseeker.locator("#announce-polite")).to_have_text(
        f"Your connection is better: {ADVISOR_NAME} sees you again.", timeout=WAIT_MS)
    await expect(adv_tile).to_have_class("tile remote", timeout=WAIT_MS)
    now = await received(advisor, JOBSEEKER)
    await received(advisor, JOBSEEKER, frames_above=now["video"]["framesDecoded"] + 30)
    await trial_held(netns_browsers.node, "send", jobseeker, JOBSEEKER, back["at"])
    events = await jobseeker.evaluate("() => window.e2e.fallbacks")
    # Nothing was blamed on the advisor: her downlink carried all that reached the node from him.
    blamed = [e for e in events if e["user"] != JOBSEEKER]
    assert blamed == [], blamed
    note("uplink", fallback_s=round(fallback_s, 1), recovery_s=round(recovery_s, 1),
         off_to_back_s=round((back["at"] - off["at"]) / 1000, 1),
         events=[(e["user"], e["direction"], e["video"], e["reason"]) for e in events],
         first_bad_s=round((said_bad[0]["at"] - capped_at) / 1000, 1))

    await leave(advisor, jobseeker)
    record = await outcome(netns_browsers.node, room)
    note("uplink-outcome", store=store, record=record)
    assert record["outcome"] == "degraded" and "audio_fallback" in record["problems"], record
    assert record["ended_by"] == "normal" and record["fallbacks"] >= 1 and record["recoveries"] >= 1, record
    assert RETRY_S - 1 <= record["audio_s"] <= (back["at"] - off["at"]) / 1000 + 5, record


async def test_the_check_in_the_namespace_gives_video_on_a_reduced_rate_link(netns_browsers: NetnsBrowsers) -> None:
    net = netns_browsers.net
    node = netns_browsers.node
    page = await netns_browsers.jobseeker.open_signed_in("check", "/static/check.html?lang=en",
                                                        node.token(JOBSEEKER, name=JOBSEEKER_NAME))
    await page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=WAIT_MS)
    # Capped once the page is loaded: a qdisc added to the namespace's interface is a network
    # change to Chromium, which fails the loads under way (net::ERR_NETWORK_CHANGED).
    net.cap(down_kbit=REDUCED_KBIT, up_kbit=REDUCED_KBIT)
    started = time.monotonic()
    await page.click("#run")
    await page.wait_for_function(CHECK_DONE, timeout=CHECK_MS)
    took_s = time.monotonic() - started
    result = await page.evaluate("() => window.rtPage.result")
    assert result is not None, await page.locator("#step").text_content()
    network = result["measurements"]["network"]
    mode = result.get("mode")
    if mode is None:  # a result without a mode: video is a tier with a verdict that does not turn it away
        mode = "video" if result["video"] in ("720p", "480p", "240p") and result["verdict"] != "not-ready" else "audio"
    note("check", took_s=round(took_s, 1), verdict=result["verdict"], mode=mode, video=result["video"],
         findings=codes(result), network=network)
    assert mode == "video", (result["verdict"], result["video"], codes(result), network)
