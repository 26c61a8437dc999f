"""An advisor's console over a full portfolio (150 jobseekers, the most an advisor follows) in
headless Chromium: every conversation is joined in one burst, each row is dated from the
portfolio (no history read), and the connection stays up and live. A burst over the request
budget used to get the connection closed for abuse (4102), again at every reconnect."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from conftest import Harness
from playwright.async_api import expect
from workflow_support import follow, users

if TYPE_CHECKING:  # imported by pytest as a plugin (below), so that its asserts are rewritten
    from browser_support import BrowserSession

pytest_plugins = ["browser_support"]  # browser, node, browser_session
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

PORTFOLIO = 150
WAIT_MS = 10_000
# 150 joins and the portfolio: a few seconds; generous for a loaded machine.
READY_MS = 30_000


async def test_a_console_over_150_jobseekers_stays_connected_and_live(browser_session: BrowserSession,
                                                                      node: Harness) -> None:
    await users(node, ("adv-1", "advisor", ""), *[(f"js-{i}", "jobseeker", "") for i in range(PORTFOLIO)])
    for i in range(PORTFOLIO):
        await follow(node, f"js-{i}", "adv-1")
    page = await browser_session.open_signed_in("advisor", "/static/advisor.html",
                                                node.token("adv-1", "advisor", name="Claire Martin"))
    await page.wait_for_function("() => document.body.dataset.ready === 'true'", timeout=READY_MS)
    await expect(page.locator("#portfolio [data-room]")).to_have_count(PORTFOLIO)
    assert await page.evaluate("() => window.rtPage.client.state") == "open"
    log = browser_session.console("advisor")
    assert "4102" not in log and "rate_limited" not in log, log
    # Every row was dated from the portfolio's last_ts: no conversation's history had to be read.
    requests = node.node.metrics.registry
    assert (requests.get_sample_value("rtserver_requests_total", {"type": "history"}) or 0) == 0
    assert requests.get_sample_value("rtserver_requests_total", {"type": "join"}) == PORTFOLIO
    # The last jobseeker of the list writes: the console hears it live (its conversation was
    # joined like the others). The unread assignment notice is not counted: "1", not "2".
    last = f"js-{PORTFOLIO - 1}"
    jobseeker = await node.client(last)
    await jobseeker.join(f"followup-{last}")
    await jobseeker.send(f"followup-{last}", "Bonjour, une question sur mon CV")
    badge = page.locator(f'#portfolio [data-room="followup-{last}"] .badge.unread span[aria-hidden="true"]')
    await expect(badge).to_have_text("1", timeout=WAIT_MS)
