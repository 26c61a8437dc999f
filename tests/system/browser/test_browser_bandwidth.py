"""How far a clean link lets a real Chromium interview climb: the node must not hold it down.

Two Chromium pages in an interview through a node on loopback; after ``RAMP_S`` seconds the
advisor's publish connection is read: the video it sends (kbit/s over the last seconds, frame
size, ``qualityLimitationReason``, ``targetBitrate``) and what the node asked of it (REMB).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import pytest_asyncio
from conftest import Harness
from playwright.async_api import Browser, Page, async_playwright

if TYPE_CHECKING:
    from browser_support import BrowserSession

pytest_plugins = ["browser_support"]
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(90), pytest.mark.slow]

ROOM = "bw"
RAMP_S = 20.0  # about how long the first impression of an interview lasts
WINDOW_S = 4.0  # the sent rate is measured over the last seconds of the ramp

CAMERA = (640, 480, 30)  # what a webcam gives by default (getUserMedia with no constraints)


def write_camera_clip(path: Path, seconds: int = 2) -> None:
    """A raw video clip (Y4M) with as much detail as a real webcam scene: noise moving over a gradient,
    so the encoder needs more than a megabit at 640x480 (Chromium's built-in fake camera draws a
    plain pattern that it encodes in under 500 kbit/s whatever the bandwidth allows)."""
    width, height, fps = CAMERA
    noise = os.urandom(width * height)
    gradient = bytes((x // 3 + 40) & 0xFF for x in range(width))
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in range(seconds * fps):
            shift = frame * 1999 % len(noise)
            moving = noise[shift:] + noise[:shift]
            luma = bytearray(gradient * height)
            band = width * height // 3  # the top third is detail that moves, the rest is flat
            luma[:band] = moving[:band]
            out.write(b"FRAME\n" + bytes(luma) + bytes([110 + frame % 30]) * (width * height // 4)
                      + bytes([140]) * (width * height // 4))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Browser]:
    """Chromium whose fake camera plays a detailed clip (overrides browser_support's)."""
    from browser_support import CHROMIUM, CHROMIUM_ARGS  # a plugin of this module: imported after pytest's hook

    clip = tmp_path_factory.mktemp("camera") / "camera.y4m"
    write_camera_clip(clip)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                    args=[*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={clip}"])
        yield chromium
        await chromium.close()


SENT = """async () => {
  const pc = window.interviewPage && window.interviewPage.interview && window.interviewPage.interview.publishPc;
  if (!pc) return null;
  const out = {};
  (await pc.getStats()).forEach((s) => {
    if (s.type === 'outbound-rtp' && s.kind === 'video') {
      Object.assign(out, {bytes: s.bytesSent, width: s.frameWidth || 0, height: s.frameHeight || 0,
        limited: s.qualityLimitationReason, target: s.targetBitrate || 0, fps: s.framesPerSecond || 0});
    }
    if (s.type === 'candidate-pair' && s.nominated && s.availableOutgoingBitrate) {
      out.available = s.availableOutgoingBitrate;
    }
  });
  return out;
}"""


async def sent(page: Page) -> dict[str, Any]:
    return await page.evaluate(SENT) or {}


async def test_a_clean_link_is_not_held_to_a_low_bitrate(browser_session: BrowserSession, node: Harness) -> None:
    await node.room(ROOM, {"adv": "member", "js": "member"}, kind="conversation")
    adv = await browser_session.open("advisor", "/static/interview.html", user="adv", role="advisor", room=ROOM,
                                     lang="en")
    await browser_session.open("jobseeker", "/static/interview.html", user="js", room=ROOM, lang="en")
    await adv.wait_for_function("() => window.interviewPage.interview && window.interviewPage.interview.publishPc"
                                " && window.interviewPage.interview.publishPc.connectionState === 'connected'",
                                timeout=10_000)
    started = time.monotonic()
    samples = []
    while time.monotonic() - started < RAMP_S:
        await asyncio.sleep(1.0)
        now = await sent(adv)
        inbound = video_inbound(node)
        samples.append({"t": round(time.monotonic() - started, 1), **now,
                        "remb": inbound and inbound.remb_sent_bps, "uplink": inbound and inbound.uplink_estimate_bps,
                        "twcc": inbound and inbound.transport_cc and inbound.transport_cc.sent})
    last = samples[-1]
    earlier = next(s for s in samples if s["t"] >= last["t"] - WINDOW_S)
    kbps = (last["bytes"] - earlier["bytes"]) * 8 / 1000 / (last["t"] - earlier["t"])
    report = {"sent_kbps": round(kbps), "width": last["width"], "height": last["height"], "limited": last["limited"],
              "target_kbps": last["target"] // 1000, "available_kbps": last.get("available", 0) // 1000,
              "remb_kbps": (last["remb"] or 0) // 1000, "uplink_kbps": (last["uplink"] or 0) // 1000}
    print(json.dumps(report))
    print("\n".join(json.dumps(s) for s in samples))
    # Measured (this clip, loopback, 20 s): when every estimate was passed on, Chromium's estimate
    # reached 360-380 kbit/s and it sent 250-300 kbit/s; with REMB alone it reaches 2.5 Mbit/s
    # (+8 %/s from 300 kbit/s, its own pace: 660 kbit/s at 3 s) and sends about 600 kbit/s (the
    # encoder's own maximum at the 320x240 its quality scaler brings this noisy clip down to).
    # With the node's transport-wide feedback, Chromium's probes find the link in the first
    # second (3.7 Mbit/s at 1 s on an idle machine) and the first 8 s go out at 480x360, 1.4-1.7
    # Mbit/s. Under the whole suite's load it probed 1.57 Mbit/s at 1 s, then backed off to 1.34
    # at 3 s (the node's busy loop reads as queuing delay): the peak of the first 3.5 s is judged.
    assert report["available_kbps"] > 900 and kbps > 450, report
    early = max(s.get("available", 0) for s in samples if s["t"] <= 3.5)
    assert early > 1_000_000, samples[:4]  # probed, not ramped (REMB alone: 325-660 kbit/s by 3 s)
    assert last["twcc"], last  # the node answered the numbered packets
    assert report["remb_kbps"] >= report["available_kbps"], report  # the node does not hold it back


def video_inbound(node: Harness) -> Any:
    """The node's receiving side of the advisor's camera (None until it is published)."""
    room = node.media.rooms.get(ROOM)
    publication = next((p for p in room.publications_of("adv") if p.kind == "video"), None) if room else None
    return publication and publication.inbound
