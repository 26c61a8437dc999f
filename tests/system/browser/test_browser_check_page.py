"""The pre-call check page as a person sees it after the verdict, in Chromium against a node:
the camera's tile keeps the last picture instead of turning into a black box, the figures are
in plain words (no "jitter", no "4.4 out of 4.5"), and a link leads back to the person's page."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from conftest import Harness
from playwright.async_api import expect

if TYPE_CHECKING:
    from browser_support import BrowserSession

pytest_plugins = ["browser_support"]  # browser, node, browser_session
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(90)]

WAIT_MS = 10_000
CHECK_MS = 25_000  # the check promises 15 s; the wait allows for a loaded machine
CHECK_DONE = "() => document.body.dataset.verdict !== undefined && document.body.dataset.checking === undefined"

# The still's pixels: Chromium's fake camera draws a light picture with a moving pattern; a black
# box (a video element without its stream) averages near 0.
MEAN_BRIGHTNESS = """async () => {
  const img = document.querySelector('#preview-still');
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let sum = 0;
  for (let i = 0; i < data.length; i += 4) sum += (data[i] + data[i + 1] + data[i + 2]) / 3;
  return sum / (data.length / 4);
}"""

PLAIN = {
    "fr": {"voice": "Qualité du son attendue\u00a0: excellente", "network": "temps de réponse",
           "jargon": ("gigue", "sur 4,5", "aller-retour"), "back": "Retour à mon espace"},
    "en": {"voice": "Expected sound quality: excellent", "network": "response time",
           "jargon": ("jitter", "out of 4.5", "round trip"), "back": "Back to my page"},
}


@pytest.mark.parametrize("lang", ["fr", "en"])
async def test_after_the_verdict_the_picture_stays_the_words_are_plain_and_a_link_leads_back(
        browser_session: BrowserSession, node: Harness, lang: str) -> None:
    await node.followup()
    page = await browser_session.open_signed_in("check", f"/static/check.html?lang={lang}",
                                                node.token("js-1", name="Karim Benali"))
    await page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=WAIT_MS)
    words = PLAIN[lang]
    back = page.locator("#back")
    await expect(back).to_have_text(words["back"])
    await expect(back).to_have_attribute("href", f"/static/jobseeker.html?lang={lang}")

    await page.click("#run")
    await page.wait_for_function(CHECK_DONE, timeout=CHECK_MS)
    assert await page.evaluate("() => document.body.dataset.verdict") == "ready"

    # The camera is released (no stream left) and its tile shows the last picture, not black.
    assert await page.evaluate("() => document.querySelector('#preview').srcObject === null")
    await expect(page.locator("#preview")).to_be_hidden()
    still = page.locator("#preview-still")
    await expect(still).to_be_visible()
    assert await page.evaluate(MEAN_BRIGHTNESS) > 40
    await expect(page.locator(".precall-media figcaption")).to_have_text(
        {"fr": "Votre image pendant le test", "en": "Your picture during the test"}[lang])

    figures = await page.locator("#figures").inner_text()
    assert words["voice"] in figures and words["network"] in figures, figures
    assert not any(term in figures for term in words["jargon"]), figures

    await back.click()
    await page.wait_for_url(f"**/static/jobseeker.html?lang={lang}")
    await page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=WAIT_MS)
