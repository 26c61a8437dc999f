"""A callback request's ``late_at`` on a node configured with working hours (the calendar's own
arithmetic is tests/unit/workflow/test_working_time.py)."""

from __future__ import annotations

import time

import pytest
from workflow_support import follow, users

from rtserver.workflow.working_time import WorkingCalendar

HOUR_MS = 3_600_000
WORKING_DAY_MS = 8 * HOUR_MS
OFFICE = WorkingCalendar.parse("mon-fri 09:00-17:00", "Europe/Paris", "2026-12-25")


@pytest.fixture
def settings_overrides():
    return {"working_hours": "mon-fri 09:00-17:00", "working_timezone": "Europe/Paris",
            "holidays": "2026-12-25", "callback_sla_s": WORKING_DAY_MS / 1000}


async def test_a_callback_is_late_after_one_working_day(harness):
    await users(harness, ("adv-1", "advisor", ""), ("js-1", "jobseeker", ""))
    room = (await follow(harness, "js-1", "adv-1"))["room"]
    js = await harness.client("js-1")
    await js.join(room)
    now = int(time.time() * 1000)
    window = {"start": now + 60_000, "end": now + HOUR_MS}
    made = (await js.request("callback_request", reason="CV", channel="phone", windows=[window]))["callback"]
    # Late one working day after it was made (the window ends sooner): by the calendar, which is
    # never sooner than eight hours of the clock, and usually much later (nights, weekends).
    assert made["late_at"] == OFFICE.add(made["created"], WORKING_DAY_MS)
    assert made["late_at"] >= made["created"] + WORKING_DAY_MS
    status, data = await harness.api("GET", f"/api/callbacks/{made['id']}")
    assert status == 200 and data["late_at"] == made["late_at"] and data["late"] is False
