"""Working time: service levels counted in the hours an agency works, not in calendar seconds.

"Answered within one working day" means Monday morning for a request made on Friday evening,
not Saturday evening. With ``working_hours`` set (``mon-fri 09:00-17:00``), SLA deadlines count
only those hours, in ``working_timezone``, skipping ``holidays``; unset, they count calendar
time. Daylight-saving changes are the time zone's business: opening hours are local times.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["WorkingCalendar"]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A deadline further than this from its start is a configuration mistake (every day a holiday).
MAX_DAYS_SCANNED = 3 * 366


def _days(spec: str) -> frozenset[int]:
    days: set[int] = set()
    for part in spec.split(","):
        first, _, last = part.strip().partition("-")
        if first not in DAY_NAMES or (last and last not in DAY_NAMES):
            raise ValueError(f"working_hours: unknown day in {part!r} (use {', '.join(DAY_NAMES)})")
        a, b = DAY_NAMES.index(first), DAY_NAMES.index(last or first)
        if b < a:
            raise ValueError(f"working_hours: {part!r} runs backwards")
        days.update(range(a, b + 1))
    return frozenset(days)


def _clock(text: str) -> dt.time:
    try:
        return dt.time.fromisoformat(text)
    except ValueError:
        raise ValueError(f"working_hours: {text!r} is not a time such as 09:00") from None


def service_zone(zone: str) -> ZoneInfo:
    """``working_timezone`` as a zone; ValueError naming the setting for an unknown one."""
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"working_timezone: unknown time zone {zone!r}") from None


@dataclasses.dataclass(frozen=True, slots=True)
class WorkingCalendar:
    days: frozenset[int]  # 0 is Monday
    opens: dt.time
    closes: dt.time
    zone: ZoneInfo
    holidays: frozenset[dt.date]

    @classmethod
    def parse(cls, hours: str, zone: str, holidays: str = "") -> WorkingCalendar | None:
        """``mon-fri 09:00-17:00`` (days: names, ranges, commas); None for ``""`` (calendar time)."""
        if not hours.strip():
            return None
        try:
            day_spec, span = hours.split()
            opens, closes = (_clock(t) for t in span.split("-"))
        except ValueError as exc:
            raise ValueError(f"working_hours: expected e.g. 'mon-fri 09:00-17:00', got {hours!r}"
                             if "working_hours" not in str(exc) else str(exc)) from None
        if closes <= opens:
            raise ValueError("working_hours: closing time must come after opening time")
        tz = service_zone(zone)
        try:
            off = frozenset(dt.date.fromisoformat(d.strip()) for d in holidays.split(",") if d.strip())
        except ValueError:
            raise ValueError("holidays: expected comma-separated dates such as 2026-12-25") from None
        return cls(_days(day_spec), opens, closes, tz, off)

    def _span_ms(self, day: dt.date) -> tuple[int, int] | None:
        """The day's working hours as epoch milliseconds, or None if it is not a working day."""
        if day.weekday() not in self.days or day in self.holidays:
            return None
        start = dt.datetime.combine(day, self.opens, self.zone)
        end = dt.datetime.combine(day, self.closes, self.zone)
        return int(start.timestamp() * 1000), int(end.timestamp() * 1000)

    def add(self, start_ms: int, duration_ms: int) -> int:
        """The moment ``duration_ms`` of working time after ``start_ms`` (epoch milliseconds)."""
        remaining = max(0, duration_ms)
        day = dt.datetime.fromtimestamp(start_ms / 1000, self.zone).date()
        for _ in range(MAX_DAYS_SCANNED):
            span = self._span_ms(day)
            if span is not None:
                begin = max(span[0], start_ms)
                if begin < span[1]:
                    if remaining <= span[1] - begin:
                        return begin + remaining
                    remaining -= span[1] - begin
            day += dt.timedelta(days=1)
        raise ValueError(f"no working time within {MAX_DAYS_SCANNED} days: check working_hours and holidays")

    def working_ms(self, start_ms: int, end_ms: int) -> int:
        """Working time between two moments (0 if ``end_ms`` is not after ``start_ms``)."""
        total = 0
        day = dt.datetime.fromtimestamp(start_ms / 1000, self.zone).date()
        last = dt.datetime.fromtimestamp(end_ms / 1000, self.zone).date()
        while day <= last:
            span = self._span_ms(day)
            if span is not None:
                total += max(0, min(span[1], end_ms) - max(span[0], start_ms))
            day += dt.timedelta(days=1)
        return total
