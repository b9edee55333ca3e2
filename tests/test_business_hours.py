"""Business-hours arithmetic: weekends, holidays, daylight saving, out-of-hours answers."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from monitor.business_hours import BusinessCalendar, parse_ranges
from monitor.config import BusinessHoursConfig

AMS = "Europe/Amsterdam"


def local(zone: str, year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def weekdays(ranges: str, zone: str = AMS, **kw: object) -> BusinessCalendar:
    days = ("mon", "tue", "wed", "thu", "fri")
    return BusinessCalendar(zone, {d: parse_ranges(ranges) for d in days}, **kw)  # type: ignore[arg-type]


def minutes(seconds: float) -> float:
    return seconds / 60


def test_friday_evening_to_monday_morning_counts_only_open_minutes() -> None:
    # Friday 17:55 to Monday 09:10. With 9-17 hours Friday 17:55 is already closed, so only
    # Monday 09:00-09:10 counts: 10 minutes. (The "15" assumes Friday counts until
    # 18:00: with 9-18 hours it is 5 + 10 = 15 minutes; both are checked.)
    fri, mon = local(AMS, 2026, 11, 20, 17, 55), local(AMS, 2026, 11, 23, 9, 10)
    assert minutes(weekdays("09:00-17:00").business_seconds(fri, mon)) == 10
    assert minutes(weekdays("09:00-18:00").business_seconds(fri, mon)) == 15


def test_the_night_clocks_go_forward_loses_no_business_hour() -> None:
    # Clocks jump 02:00 -> 03:00 on Sunday 29 March 2026 in Amsterdam.
    saturday_night = local(AMS, 2026, 3, 28, 23, 0)
    monday = local(AMS, 2026, 3, 30, 10, 0)
    assert minutes(weekdays("09:00-17:00").business_seconds(saturday_night, monday)) == 60
    assert (monday - saturday_night).total_seconds() == 34 * 3600  # not 35: the hour is gone
    always = BusinessCalendar(AMS, {d: parse_ranges("00:00-24:00") for d in ("sat", "sun")})
    sunday_nine = local(AMS, 2026, 3, 29, 9, 0)
    assert always.business_seconds(saturday_night, sunday_nine) == 9 * 3600


def test_the_night_clocks_go_back_adds_no_business_hour() -> None:
    # Clocks go 03:00 -> 02:00 on Sunday 25 October 2026: that Monday is still 8 hours.
    friday, tuesday = local(AMS, 2026, 10, 23, 17, 0), local(AMS, 2026, 10, 27, 9, 0)
    assert weekdays("09:00-17:00").business_seconds(friday, tuesday) == 8 * 3600
    always = BusinessCalendar(AMS, {"sun": parse_ranges("00:00-24:00")})
    sunday = local(AMS, 2026, 10, 25, 0, 0)
    assert always.business_seconds(sunday, local(AMS, 2026, 10, 26, 0, 0)) == 25 * 3600


def test_a_holiday_in_between_is_skipped() -> None:
    thursday, monday = local(AMS, 2026, 12, 24, 16, 0), local(AMS, 2026, 12, 28, 10, 0)
    explicit = weekdays("09:00-17:00", holidays=[date(2026, 12, 25)])
    assert minutes(explicit.business_seconds(thursday, monday)) == 60 + 60
    assert minutes(weekdays("09:00-17:00").business_seconds(thursday, monday)) == 60 + 480 + 60
    from_package = BusinessHoursConfig(timezone=AMS, holiday_country="NL").calendar()
    assert minutes(from_package.business_seconds(thursday, monday)) == 120


def test_posted_and_answered_on_sunday_gets_the_full_calendar_time() -> None:
    posted, answered = local(AMS, 2026, 11, 22, 11, 0), local(AMS, 2026, 11, 22, 11, 45)
    calendar = weekdays("09:00-17:00")
    assert calendar.business_seconds(posted, answered) == 0
    assert minutes(calendar.response_seconds(posted, answered)) == 45


def test_lunch_breaks_and_adding_business_time() -> None:
    calendar = weekdays("09:00-12:00, 13:00-17:00")
    start = local(AMS, 2026, 11, 20, 11, 0)  # Friday
    assert calendar.add_business_seconds(start, 2 * 3600) == local(AMS, 2026, 11, 20, 14, 0)
    assert calendar.add_business_seconds(start, 6 * 3600) == local(AMS, 2026, 11, 23, 10, 0)
    assert BusinessCalendar("UTC", {}).add_business_seconds(start, 60) is None


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("9-17", "not a range"),
        ("17:00-09:00", "ends before it starts"),
        ("09:00-12:00, 11:00-13:00", "overlap"),
        ("25:00-26:00", "not a valid time"),
    ],
)
def test_bad_ranges_are_refused_with_a_reason(value: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_ranges(value)
