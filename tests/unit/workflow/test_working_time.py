"""Service levels in working time: the calendar's arithmetic (rtserver/workflow/working_time.py).
A callback request's ``late_at`` on a node is tests/integration/workflow/test_working_time_node.py."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtserver.workflow.working_time import WorkingCalendar

PARIS = ZoneInfo("Europe/Paris")
HOUR_MS = 3_600_000
WORKING_DAY_MS = 8 * HOUR_MS
OFFICE = WorkingCalendar.parse("mon-fri 09:00-17:00", "Europe/Paris", "2026-12-25")
assert OFFICE is not None


def paris_ms(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=PARIS).timestamp() * 1000)


def paris(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, PARIS)


def test_one_working_day_from_friday_afternoon_is_monday_afternoon():
    friday = paris_ms(2026, 11, 27, 16, 0)
    assert paris(OFFICE.add(friday, WORKING_DAY_MS)) == dt.datetime(2026, 11, 30, 16, 0, tzinfo=PARIS)


def test_a_request_made_on_a_weekend_starts_counting_on_monday_morning():
    saturday = paris_ms(2026, 11, 28, 11, 30)
    assert paris(OFFICE.add(saturday, HOUR_MS)) == dt.datetime(2026, 11, 30, 10, 0, tzinfo=PARIS)
    evening = paris_ms(2026, 12, 1, 20, 0)  # a Tuesday, after closing
    assert paris(OFFICE.add(evening, 0)) == dt.datetime(2026, 12, 2, 9, 0, tzinfo=PARIS)


def test_holidays_are_skipped():
    christmas_eve = paris_ms(2026, 12, 24, 16, 0)  # Thursday; Friday the 25th is a holiday
    assert paris(OFFICE.add(christmas_eve, WORKING_DAY_MS)) == dt.datetime(2026, 12, 28, 16, 0, tzinfo=PARIS)


def test_opening_hours_follow_daylight_saving_time():
    # Summer time starts on Sunday 2026-03-29: Monday's 16:00 is 14:00 UTC, Friday's was 15:00 UTC.
    friday = paris_ms(2026, 3, 27, 16, 0)
    deadline = OFFICE.add(friday, WORKING_DAY_MS)
    assert dt.datetime.fromtimestamp(friday / 1000, dt.UTC).hour == 15
    assert dt.datetime.fromtimestamp(deadline / 1000, dt.UTC).hour == 14
    assert paris(deadline) == dt.datetime(2026, 3, 30, 16, 0, tzinfo=PARIS)


def test_day_lists_and_ranges():
    calendar = WorkingCalendar.parse("mon,wed-thu 08:30-12:00", "UTC")
    assert calendar is not None and calendar.days == frozenset({0, 2, 3})
    assert calendar.opens == dt.time(8, 30) and calendar.closes == dt.time(12, 0)


def test_empty_means_calendar_time():
    assert WorkingCalendar.parse("", "Europe/Paris") is None


@pytest.mark.parametrize(("hours", "zone", "holidays", "message"), [
    ("mon-fri", "Europe/Paris", "", "expected e.g."),
    ("mon-fry 09:00-17:00", "Europe/Paris", "", "unknown day"),
    ("fri-mon 09:00-17:00", "Europe/Paris", "", "runs backwards"),
    ("mon-fri 17:00-09:00", "Europe/Paris", "", "closing time"),
    ("mon-fri 9h-17h", "Europe/Paris", "", "not a time"),
    ("mon-fri 09:00-17:00", "Mars/Olympus", "", "unknown time zone"),
    ("mon-fri 09:00-17:00", "Europe/Paris", "25/12/2026", "holidays"),
])
def test_bad_calendars_are_refused_with_the_reason(hours, zone, holidays, message):
    with pytest.raises(ValueError, match=message):
        WorkingCalendar.parse(hours, zone, holidays)


@settings(max_examples=200, deadline=None)
@given(start=st.integers(paris_ms(2026, 1, 1, 0, 0), paris_ms(2027, 12, 31, 0, 0)),
       duration=st.integers(0, 20 * WORKING_DAY_MS))
def test_the_working_time_until_a_deadline_is_the_duration_asked(start, duration):
    deadline = OFFICE.add(start, duration)
    assert deadline >= start
    assert OFFICE.working_ms(start, deadline) == duration


@settings(max_examples=200, deadline=None)
@given(start=st.integers(paris_ms(2026, 1, 1, 0, 0), paris_ms(2027, 12, 31, 0, 0)),
       a=st.integers(0, 10 * WORKING_DAY_MS), b=st.integers(0, 10 * WORKING_DAY_MS))
def test_a_longer_service_level_never_ends_sooner(start, a, b):
    shorter, longer = sorted((a, b))
    assert OFFICE.add(start, shorter) <= OFFICE.add(start, longer)
    assert OFFICE.add(start, longer) - start >= longer  # working time never runs faster than the clock
