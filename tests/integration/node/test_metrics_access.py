"""/metrics: no advisor ids in label values unless asked for, and a Bearer token when one is set."""

from __future__ import annotations

from typing import Any

import pytest
from workflow_support import follow, users, workflow_of

TOKEN = "scrape-token-for-tests"


async def _metrics(harness, headers: dict[str, str] | None = None) -> tuple[int, str]:
    async with harness.session.get(harness.url("/metrics"), headers=headers or {}) as resp:
        return resp.status, await resp.text()


async def _two_followups(harness) -> None:
    await users(harness, ("adv-secret-id", "advisor", ""), ("adv-2", "advisor", ""), ("js-1", "jobseeker", ""),
                ("js-2", "jobseeker", ""))
    await follow(harness, "js-1", "adv-secret-id")
    await follow(harness, "js-2", "adv-2")
    await workflow_of(harness).figures.refresh()


async def test_open_metrics_carry_totals_and_no_advisor_id(harness) -> None:
    await _two_followups(harness)
    status, text = await _metrics(harness)
    assert status == 200
    assert "adv-secret-id" not in text and 'advisor="' not in text
    assert "rtserver_advisors 2.0" in text and "rtserver_advisors_portfolio_size 2.0" in text
    assert "rtserver_advisors_open_callbacks 0.0" in text and "rtserver_connections" in text


class TestWithToken:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"metrics_token": TOKEN, "metrics_advisor_labels": True}

    async def test_metrics_need_the_token_and_then_may_name_advisors(self, harness) -> None:
        await _two_followups(harness)
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                        {"Authorization": f"Basic {TOKEN}"}):
            status, text = await _metrics(harness, headers)
            assert status == 401 and "adv-secret-id" not in text, headers
        status, text = await _metrics(harness, {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200
        assert 'rtserver_advisor_portfolio_size{advisor="adv-secret-id"} 1.0' in text
