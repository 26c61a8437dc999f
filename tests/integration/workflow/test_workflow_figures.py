"""Response-time figures: first replies measured from real messages, in the API and in /metrics."""

from __future__ import annotations

import asyncio
import time

import pytest
from workflow_support import follow, users, workflow_of

from rtserver.workflow.figures import percentile


@pytest.fixture
def settings_overrides():
    return {"figures_refresh_s": 0.05, "metrics_advisor_labels": True}  # labels checked below


def test_percentile_interpolates():
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile([float(i) for i in range(1, 11)], 0.9) == pytest.approx(9.1)


async def test_first_reply_times_open_callbacks_and_metrics(harness):
    await users(harness, ("adv-1", "advisor", ""), ("js-1", "jobseeker", ""), ("js-2", "jobseeker", ""))
    room = (await follow(harness, "js-1", "adv-1"))["room"]
    await follow(harness, "js-2", "adv-1")
    js, adv = await harness.client("js-1"), await harness.client("adv-1", "advisor")
    await js.join(room)
    await adv.join(room)
    wf = workflow_of(harness)
    for _ in range(2):
        await js.send(room, "une question")
        await js.send(room, "une autre, même attente")
        await adv.send(room, "une réponse")
        await adv.send(room, "un complément (ne compte pas)")
    async with asyncio.timeout(5):  # the bookkeeping runs after the acknowledgement
        while len(await wf.store.reply_times("adv-1", since_ms=0)) < 2:  # noqa: ASYNC110 (no event to await)
            await asyncio.sleep(0.01)
    for seconds in (10.0, 20.0, 30.0, 40.0):
        await wf.store.add_reply_time("adv-1", int(time.time() * 1000), seconds, keep=1000)
    tomorrow = int(time.time() * 1000) + 86_400_000  # within callback_max_horizon_days
    await js.request("callback_request", reason="x", channel="phone",
                     windows=[{"start": tomorrow, "end": tomorrow + 600_000}])
    status, figures = await harness.api("GET", "/api/advisors/adv-1/figures")
    assert status == 200
    assert figures["portfolio_size"] == 2 and figures["replies"] == 6 and figures["open_callbacks"] == 1
    assert 0 < figures["first_reply_median_s"] <= 20.0 and figures["first_reply_p90_s"] == pytest.approx(35.0, 0.05)
    assert figures["oldest_open_callback_age_s"] >= 0
    await wf.figures.refresh()
    async with harness.session.get(harness.url("/metrics")) as resp:
        text = await resp.text()
    assert 'rtserver_advisor_portfolio_size{advisor="adv-1"} 2.0' in text
    assert 'rtserver_advisor_open_callbacks{advisor="adv-1"} 1.0' in text
    assert 'rtserver_advisor_first_reply_seconds{advisor="adv-1",quantile="0.9"}' in text
    status, everyone = await harness.api("GET", "/api/figures")
    assert [row["advisor"] for row in everyone["advisors"]] == ["adv-1"]
